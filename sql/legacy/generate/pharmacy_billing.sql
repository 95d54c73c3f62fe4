-- pharmacy_billing (blueprint profile only): the ghost PharmacyBilling header
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(as_of)s::date as_of),
b as (
    select p.*, n, round((100 + pg_temp.r(s, 'pbl.sub', n) * 2000)::numeric, 2) as sub,
           pg_temp.at(as_of - 60 - (pg_temp.h(s, 'pbl.d', n) %% 300)::int, 0.3 + 0.4 * pg_temp.r(s, 'pbl.t', n)) as t0
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
)
insert into pharmacy_billing (id, bill_number, patient_id, patient_name, subtotal, discount, tax_amount, tax_rate,
                              total_amount, payment_method, payment_status, created_by, created_at, updated_at)
select pg_temp.uid(s, 'pharmacy_billing', n),
       'PHB' || pg_temp.pad(n, 6),
       pg_temp.uid(s, 'patients', pg_temp.ri(s, 'pbl.pat', n, np)),
       null,
       sub, 0, round(sub * 0.12, 2), 12, round(sub * 1.12, 2),
       (array['cash', 'upi', 'card'])[1 + (pg_temp.h(s, 'pbl.pm', n) %% 3)::int],
       'paid',
       pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'pbl.by', n, nsu)),
       t0, t0
from b
