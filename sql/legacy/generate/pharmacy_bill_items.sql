-- pharmacy_bill_items: one line per pharmacy bill; each row fills exactly one of each pair
-- (bill_id/billing_id, medicine_id/medication_id, total_amount/total_price) (contract note).
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nb)s::bigint nb, %(rates)s::jsonb rt)
insert into pharmacy_bill_items (id, bill_id, billing_id, medicine_id, medication_id, batch_id, batch_number, expiry_date,
                                 quantity, unit_price, total_amount, total_price, medication_name, discount_percentage,
                                 created_at)
select pg_temp.uid(s, 'pharmacy_bill_items', n),
       case when pg_temp.r(s, 'pbi.par', n) < 0.5 then pb.id end,
       case when pg_temp.r(s, 'pbi.par', n) >= 0.5 then pb.id end,
       case when pg_temp.r(s, 'pbi.drug', n) < 0.5 then md.id end,
       case when pg_temp.r(s, 'pbi.drug', n) >= 0.5 then md.id end,
       mb.id,
       mb.batch_number,
       mb.expiry_date,
       greatest(1, floor(pb.subtotal / md.selling_price))::int,
       md.selling_price,
       case when pg_temp.r(s, 'pbi.tot', n) < 0.5 then pb.subtotal end,
       case when pg_temp.r(s, 'pbi.tot', n) >= 0.5 then pb.subtotal end,
       md.name,
       pb.discount_percentage,
       pb.created_at
from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) n
join pharmacy_bills pb on pb.id = pg_temp.uid(s, 'pharmacy_bills', n)
join medications md on md.id = pg_temp.uid(s, 'medications', pg_temp.ri(s, 'pbi.m', n, least(nm, nb)))
left join medicine_batches mb on mb.id = pg_temp.uid(s, 'medicine_batches', pg_temp.ri(s, 'pbi.m', n, least(nm, nb)))
