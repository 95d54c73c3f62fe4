-- billing_payments (contract defects 16, 17, 19): payments 1..npay of each bill (amounts from
-- pay_amount, as billing.amount_paid assumes), except a swallowed first payment (payment_mismatch);
-- 'credit' first payments; overpayments; a negative refund row (j = 3); payments whose billing_id
-- matches no bill (j = 4, orphan_fk). billing_id has no FK.
with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(nbill)s::bigint nbill,
                  %(pay_fan)s::float8 pay_fan, %(rates)s::jsonb rt),
b as (
    select p.*, n, bl.id as billing_id, bl.issued_at,
           bl.subtotal - coalesce(bl.discount_amount, bl.discount) + bl.tax as billed,
           pg_temp.hit(s, 'overpayment', n, (rt->>'overpayment')::float8, nbill) as overpay,
           -- one payment defect per bill where two would hide each other (a pinned row keeps its own)
           pg_temp.hit(s, 'credit_payment', n, (rt->>'credit_payment')::float8, nbill)
               and n not in (pg_temp.pin(s, 'payment_mismatch', nbill), pg_temp.pin(s, 'overpayment', nbill)) as credit,
           pg_temp.hit(s, 'payment_mismatch', n, (rt->>'payment_mismatch')::float8, nbill)
               and not pg_temp.hit(s, 'credit_payment', n, (rt->>'credit_payment')::float8, nbill)
               and n <> pg_temp.pin(s, 'overpayment', nbill) as gap,
           pg_temp.hit(s, 'negative_payment', n, (rt->>'negative_payment')::float8, nbill) as refund,
           pg_temp.hit(s, 'orphan_fk', n, (rt->>'orphan_fk')::float8, nbill) as orphan
    from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    join billing bl on bl.id = pg_temp.uid(s, 'billing', n)
    offset 0
),
c as (select b.*, pg_temp.bill_npay_eff(s, n, pay_fan, overpay or credit or gap) as npay from b offset 0),
j as (
    select c.*, j
    from c cross join generate_series(1, 4) j
    where (j <= npay and not (j = 1 and gap)) or (j = 3 and refund) or (j = 4 and orphan)
)
insert into billing_payments (id, billing_id, amount, method, reference, paid_at, received_by, created_at, updated_at)
select pg_temp.uid(s, 'billing_payments', n * 10 + j),
       case when j = 4 then pg_temp.uid(s, 'billing_lost', n) else billing_id end,
       case when j = 3 then -round(billed * 0.1 + 1, 2)
            when j = 4 then round((100 + pg_temp.r(s, 'pay.orph', n) * 900)::numeric, 2)
            else pg_temp.pay_amount(s, n, j, npay, billed, overpay) end,
       case when j = 1 and credit then 'credit' when j = 3 then 'cash' else pg_temp.pay_method(s, n, j) end,
       case when pg_temp.pay_method(s, n, j) in ('upi', 'card') and j <> 3
            then upper(pg_temp.pay_method(s, n, j)) || '/' || lpad((pg_temp.h(s, 'pay.ref', n * 10 + j) %% 1000000000000)::text, 12, '0') end,
       issued_at + j * interval '7 minutes',
       pg_temp.uid(s, 'auth', nd + pg_temp.ri(s, 'pay.by', n * 10 + j, nsu)),
       issued_at + j * interval '7 minutes',
       issued_at + j * interval '7 minutes'
from j
