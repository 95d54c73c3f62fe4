-- pharmacy_bills: the two PharmacyBillingForm bills (scaled): duplicated discount/tax encodings
-- (contract defect 12), walk-in buyer snapshots (13), payment_method 'upi' outside the documented CHECK.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(as_of)s::date as_of,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln),
b as (
    select p.*, n, pg_temp.r(s, 'phb.walk', n) < 0.5 as walk_in,
           round((200 + pg_temp.r(s, 'phb.sub', n) * 3000)::numeric, 2) as sub,
           (array[0, 5, 10])[1 + (pg_temp.h(s, 'phb.dp', n) %% 3)::int] as dpct,
           pg_temp.at(as_of - 1 - (pg_temp.h(s, 'phb.d', n) %% 60)::int, 0.3 + 0.4 * pg_temp.r(s, 'phb.t', n)) as t0
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
)
insert into pharmacy_bills (id, bill_number, patient_id, patient_name, customer_name, customer_phone, customer_address,
    customer_gstin, subtotal, discount, discount_percent, discount_amount, discount_percentage, tax, tax_amount,
    tax_rate, gst_amount, cgst_amount, sgst_amount, igst_amount, total_amount, net_amount, paid_amount,
    balance_amount, payment_method, payment_status, status, billing_type, prescription_uuid, notes, created_by,
    bill_date, created_at, updated_at)
select pg_temp.uid(s, 'pharmacy_bills', n),
       'PB-' || to_char(t0, 'YYMM') || '-' || pg_temp.pad(n, 4),
       case when not walk_in then pg_temp.uid(s, 'patients', pg_temp.ri(s, 'phb.pat', n, np)) end,
       case when not walk_in then 'see patient' end,
       case when walk_in then pg_temp.first_name(s, 'wlk', n, fm, ff) || ' ' || pg_temp.last_name(s, 'wlk', n, ln) end,
       case when walk_in then pg_temp.mobile(s, 'wlk', n) end,
       null, null,
       sub,
       0,
       dpct,
       round(sub * dpct / 100, 2),
       dpct,
       round((sub - round(sub * dpct / 100, 2)) * 0.12, 2),
       round((sub - round(sub * dpct / 100, 2)) * 0.12, 2),
       12,
       round((sub - round(sub * dpct / 100, 2)) * 0.12, 2),
       round((sub - round(sub * dpct / 100, 2)) * 0.06, 2),
       round((sub - round(sub * dpct / 100, 2)) * 0.06, 2),
       0,
       round((sub - round(sub * dpct / 100, 2)) * 1.12, 2),
       round((sub - round(sub * dpct / 100, 2)) * 1.12, 2),
       round((sub - round(sub * dpct / 100, 2)) * 1.12, 2),
       0,
       (array['cash', 'upi', 'card'])[1 + (pg_temp.h(s, 'phb.pm', n) %% 3)::int],
       'paid',
       'completed',
       case when walk_in then 'custom' else 'prescription' end,
       null, null,
       pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'phb.by', n, nsu)),
       (t0 at time zone 'Asia/Kolkata')::date,
       t0, t0
from b
