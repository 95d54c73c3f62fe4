-- pharmacy_billing_items (blueprint profile only): two lines per ghost bill, splitting its subtotal
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm)
insert into pharmacy_billing_items (id, billing_id, medication_id, medication_name, batch_id, quantity, unit_price,
                                    total_price, batch_number, expiry_date)
select pg_temp.uid(s, 'pharmacy_billing_items', n * 10 + j),
       pb.id,
       md.id,
       md.name,
       null,
       1,
       case when j = 1 then round(pb.subtotal * 0.6, 2) else pb.subtotal - round(pb.subtotal * 0.6, 2) end,
       case when j = 1 then round(pb.subtotal * 0.6, 2) else pb.subtotal - round(pb.subtotal * 0.6, 2) end,
       null, null
from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) n cross join generate_series(1, 2) j
join pharmacy_billing pb on pb.id = pg_temp.uid(s, 'pharmacy_billing', n)
join medications md on md.id = pg_temp.uid(s, 'medications', pg_temp.ri(s, 'pbli.m', n * 10 + j, nm))
