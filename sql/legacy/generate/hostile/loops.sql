-- Loops in chains (slot class 'self_loop').
-- bed_allocations: a transfer closes a row ('transferred') and a row without encounter_id or
-- ip_number continues the 'transferred' row of the same patient discharged within the hour. Here a
-- 'transferred' row without encounter_id and ip_number is discharged at its own admission time: the
-- transfer points back at the row itself. (Two-row cycles are added by loops_insert.sql.)
-- needs: bed_allocations
with s as (select h.id from _hslot h where h.tbl = 'bed_allocations' and h.cls = 'self_loop'),
u as (
    update bed_allocations t set encounter_id = null, ip_number = null, status = 'transferred',
                                 discharge_date = t.admission_date, reason = 'Transferred to ICU'
    from s where t.id = s.id
    returning t.id, t.admission_date
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SELF_LOOP', 'bed_allocations', id::text, 'ACCOUNT', 'REFERENCE_LOOP',
       jsonb_build_object('loop', 'self', 'column', 'discharge_date', 'value', admission_date,
                          'note', 'transferred row, no encounter_id/ip_number, discharged at its own admission')
from u;

-- stock ledgers: a transfer whose reference_id is its own id
-- needs: stock_transactions
with s as (select h.id from _hslot h where h.tbl = 'stock_transactions' and h.cls = 'self_loop'),
u as (
    update stock_transactions t set transaction_type = 'transfer_out', reference_id = t.id,
                                    reference_type = 'stock_transactions', notes = 'Transfer: ' || t.id::text
    from s where t.id = s.id
    returning t.id
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SELF_LOOP', 'stock_transactions', id::text, 'ACCOUNT', 'REFERENCE_LOOP',
       jsonb_build_object('loop', 'self', 'column', 'reference_id', 'value', id)
from u;

-- needs: pharmacy_stock_transactions
with s as (select h.id from _hslot h where h.tbl = 'pharmacy_stock_transactions' and h.cls = 'self_loop'),
u as (
    update pharmacy_stock_transactions t set transaction_type = 'transfer_in', reference_id = t.id,
                                             reference_type = 'pharmacy_stock_transactions',
                                             notes = 'Transfer: ' || t.id::text
    from s where t.id = s.id
    returning t.id
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SELF_LOOP', 'pharmacy_stock_transactions', id::text, 'ACCOUNT', 'REFERENCE_LOOP',
       jsonb_build_object('loop', 'self', 'column', 'reference_id', 'value', id)
from u;
