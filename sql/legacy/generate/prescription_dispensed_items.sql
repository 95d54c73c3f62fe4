-- prescription_dispensed_items (blueprint profile only): one per item of a dispensed prescription,
-- naming the first batch of its medication
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nb)s::bigint nb, %(rx_fan)s::float8 fan, %(rates)s::jsonb rt),
i as (
    select p.*, r, j, pg_temp.rx_med(s, r, j, nm) as m, r * 100 + j as k
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) r, generate_series(1, pg_temp.rx_nitems(p.s, r, p.fan)) j
    where pg_temp.r(p.s, 'pd.has', r) < 0.5
    offset 0
),
i2 as (select i.*, pg_temp.batch_j(s, m, (rt->>'batch_number_reused')::float8, nb) as bj from i offset 0)
insert into prescription_dispensed_items (id, prescription_dispensed_id, medication_id, quantity_dispensed, unit_price,
                                          total_price, batch_number, created_at)
select pg_temp.uid(s, 'prescription_dispensed_items', k),
       pd.id,
       pi.medication_id,
       pi.quantity,
       pi.unit_price,
       pi.total_price,
       case when m <= nb then pg_temp.batch_no_of(s, bj) end,
       pd.dispensed_at
from i2
join prescription_dispensed pd on pd.id = pg_temp.uid(s, 'prescription_dispensed', r)
join prescription_items pi on pi.id = pg_temp.uid(s, 'prescription_items', k)
