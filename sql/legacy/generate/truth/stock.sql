-- {target} (stock_transactions, pharmacy_stock_transactions): zero quantities, unknown batches,
-- signs that contradict the type, totals 0 before the rebuild, purchases counted in packs
with p as (select %(packs_until)s::date packs_until),
packs as (
    select coalesce(medication_id, medicine_id) as med, batch_number,
           max(coalesce(substring(notes from 'pack of ([0-9]+)')::int, 1)) as pack
    from medicine_batches group by 1, 2
),
t as (
    select st.*, pk.pack
    from {target} st left join packs pk on pk.med = st.medication_id and pk.batch_number = st.batch_number
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'zero_qty', %(tag)s, id::text, 'QUARANTINE:ZERO_QTY', 'ZERO_QTY', jsonb_build_object('transaction_type', transaction_type)
from t where quantity = 0
union all
select 'unknown_batch', %(tag)s, id::text, 'QUARANTINE:UNKNOWN_BATCH', 'UNKNOWN_BATCH',
       jsonb_build_object('batch_number', batch_number)
from t where batch_number is not null and pack is null
union all
select 'ledger_wrong_sign', %(tag)s, id::text, 'LOAD_WITH_WARN', 'WRONG_SIGN',
       jsonb_build_object('column', 'quantity', 'value', quantity, 'corrected', -quantity, 'transaction_type', transaction_type)
from t
where (transaction_type in ('sale', 'adjustment', 'purchase_return', 'expired', 'transfer_out', 'manual_adjustment', 'billing_adjustment') and quantity > 0)
   or (transaction_type in ('purchase', 'return', 'opening_balance', 'transfer_in') and quantity < 0)
union all
select 'ledger_total_zero', %(tag)s, id::text, 'LOAD_WITH_WARN', 'RECOMPUTED_TOTAL',
       jsonb_build_object('column', 'total_amount', 'value', total_amount, 'corrected', round(abs(quantity) * unit_price, 2))
from t where total_amount = 0 and quantity <> 0 and unit_price > 0
union all
select 'packs_not_units', %(tag)s, id::text, 'LOAD_WITH_WARN', 'PACKS_NOT_UNITS',
       jsonb_build_object('column', 'quantity', 'value', quantity, 'pack_size', pack, 'corrected', quantity * pack)
from t, p where transaction_type = 'purchase' and transaction_date < (p.packs_until::timestamp at time zone 'UTC') and pack > 1
