-- prescription_dispensed (blueprint profile only): the PDS header for about half the prescriptions
with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(nsu)s::bigint nsu)
insert into prescription_dispensed (id, prescription_id, patient_id, dispensed_by, dispensed_at, total_amount,
                                    payment_status, notes, created_at)
select pg_temp.uid(s, 'prescription_dispensed', r),
       rx.id,
       rx.patient_id,
       pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'pd.by', r, nsu)),
       rx.created_at + interval '1 hour',
       (select sum(total_price) from prescription_items pi where pi.prescription_id = rx.id),
       (array['paid', 'paid', 'pending', 'partial', 'refunded'])[1 + (pg_temp.h(s, 'pd.ps', r) %% 5)::int],
       null,
       rx.created_at + interval '1 hour'
from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) r
join prescriptions rx on rx.id = pg_temp.uid(s, 'prescriptions', r)
where pg_temp.r(s, 'pd.has', r) < 0.5
