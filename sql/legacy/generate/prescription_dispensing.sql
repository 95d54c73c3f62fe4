-- prescription_dispensing (blueprint profile only): the ghost dispensing rows dispensePrescription
-- writes ('complete'), for about a third of the prescription items
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(rx_fan)s::float8 fan),
i as (
    select p.*, r, j, r * 100 + j as k
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) r, generate_series(1, pg_temp.rx_nitems(p.s, r, p.fan)) j
    where pg_temp.r(p.s, 'pdg.has', r * 100 + j) < 0.3
    offset 0
)
insert into prescription_dispensing (id, prescription_id, medication_id, quantity_prescribed, quantity_dispensed,
                                     dispensed_by, dispensed_at, notes, status)
select pg_temp.uid(s, 'prescription_dispensing', k),
       pi.prescription_id,
       pi.medication_id,
       pi.quantity,
       case when pg_temp.r(s, 'pdg.part', k) < 0.2 then pi.quantity / 2 else pi.quantity end,
       pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'pdg.by', k, nsu)),
       pi.created_at + interval '90 minutes',
       null,
       case when pg_temp.r(s, 'pdg.part', k) < 0.2 then 'partial' else 'complete' end
from i join prescription_items pi on pi.id = pg_temp.uid(s, 'prescription_items', k)
