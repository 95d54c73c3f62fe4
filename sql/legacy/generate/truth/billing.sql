-- billing, billing_item, billing_payments: bill numbers, discount encodings, buyer snapshots,
-- overloaded methods, lines vs header, amount_paid vs payments, overpayments, unknown statuses,
-- future bills, external items, the hard-coded line type, refunds, 'credit' rows, orphan payments
with p as (select %(nbill)s::bigint nbill, %(as_of)s::date as_of),
items as (select billing_id, sum(qty * unit_amount) as items_sum from billing_item group by billing_id),
pays as (select billing_id, sum(amount) as paid from billing_payments where amount > 0 and method <> 'credit' group by billing_id),
b as (
    select bl.*, bl.subtotal - coalesce(bl.discount_amount, bl.discount) + bl.tax as billed,
           coalesce(i.items_sum, 0) as items_sum, coalesce(py.paid, 0) as paid_rows
    from billing bl left join items i on i.billing_id = bl.id left join pays py on py.billing_id = bl.id
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'bill_number_variant', 'billing', b.id::text, 'LOAD_WITH_WARN', 'FORMAT_VARIANT',
       jsonb_build_object('bill_no', b.bill_no, 'bill_number', b.bill_number,
                          'random_suffix', split_part(b.bill_number, '-', 3)::bigint > p.nbill)
from b, p where b.bill_no is null or split_part(b.bill_number, '-', 3)::bigint > p.nbill
union all
select 'discount_encoding', 'billing', id::text, 'LOAD_WITH_WARN', 'ENCODING_CONFLICT',
       jsonb_build_object('discount', discount, 'discount_amount', discount_amount, 'discount_type', discount_type,
                          'discount_value', discount_value, 'corrected', discount_amount)
from b where discount_amount is not null and discount_amount <> discount
union all
select 'walk_in_bill', 'billing', id::text, 'LOAD_WITH_WARN', 'FREE_TEXT_REF',
       jsonb_build_object('customer_name', customer_name, 'customer_phone', customer_phone)
from b where patient_id is null and customer_type = 'walk_in'
union all
select 'self_bill', 'billing', id::text, 'LOAD_WITH_WARN', 'AMBIGUOUS_REF',
       jsonb_build_object('column', 'doctor_id', 'value', doctor_id, 'points_at', 'staff.id', 'self_bill_type', self_bill_type)
from b where customer_type = 'self'
union all
select 'overloaded_method', 'billing', id::text, 'LOAD_WITH_WARN', 'VOCAB_VARIANT',
       jsonb_build_object('column', 'payment_method', 'value', payment_method)
from b where payment_method in ('split', 'credit', 'gpay', 'other')
union all
select 'items_total_mismatch', 'billing', id::text, 'LOAD_WITH_WARN', 'ITEMS_TOTAL_MISMATCH',
       jsonb_build_object('subtotal', subtotal, 'items_sum', items_sum)
from b where subtotal <> items_sum
union all
select 'payment_mismatch', 'billing', id::text, 'LOAD_WITH_WARN', 'PAYMENT_MISMATCH',
       jsonb_build_object('amount_paid', amount_paid, 'payments_sum', paid_rows)
from b where amount_paid <> paid_rows
union all
select 'overpayment', 'billing', id::text, 'LOAD_WITH_WARN', 'OVERPAYMENT',
       jsonb_build_object('billed', billed, 'payments_sum', paid_rows, 'excess', paid_rows - billed)
from b where paid_rows > billed
union all
select 'unknown_status', 'billing', id::text, 'LOAD_WITH_WARN', 'UNKNOWN_STATUS',
       jsonb_build_object('column', 'payment_status', 'value', payment_status)
from b where payment_status not in ('pending', 'partial', 'paid', 'cancelled', 'completed')
union all
select 'future_date', 'billing', b.id::text, 'QUARANTINE:FUTURE_DATE', 'FUTURE_DATE',
       jsonb_build_object('column', 'issued_at', 'value', b.issued_at)
from b, p where b.issued_at >= ((p.as_of + 1)::timestamp at time zone 'UTC')
union all
select 'external_item', 'billing_item', id::text, 'LOAD_FK_NULL', 'FREE_TEXT_REF',
       jsonb_build_object('description', description, 'batch_number', batch_number)
from billing_item where batch_number = 'EXTERNAL'
union all
select 'hardcoded_ref_code', 'billing_item', id::text, 'LOAD_WITH_WARN', 'AMBIGUOUS_REF',
       jsonb_build_object('column', 'line_type_id', 'value', line_type_id, 'map_by', 'ref_code (billing_line, medicine)')
from billing_item where line_type_id = '3a0ca26e-7dc1-4ede-9872-d798cf39d248'
union all
select 'negative_payment', 'billing_payments', id::text, 'QUARANTINE:NEGATIVE_AMOUNT', 'NEGATIVE_AMOUNT',
       jsonb_build_object('amount', amount)
from billing_payments where amount < 0
union all
select 'credit_payment', 'billing_payments', id::text, 'QUARANTINE:NOT_A_PAYMENT', 'NOT_A_PAYMENT',
       jsonb_build_object('amount', amount, 'method', method)
from billing_payments where method = 'credit'
union all
select 'orphan_fk', 'billing_payments', bp.id::text, 'QUARANTINE:ORPHAN_FK', 'ORPHAN_FK',
       jsonb_build_object('column', 'billing_id', 'value', bp.billing_id)
from billing_payments bp where not exists (select 1 from billing bl where bl.id = bp.billing_id)
