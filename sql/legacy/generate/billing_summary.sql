-- billing_summary: discharge bill headers with no lines (contract defect 28), for most admissions
with p as (select %(seed)s::bigint s, %(npad)s::bigint npad)
insert into billing_summary (id, patient_admission_id, bill_number, bill_date, subtotal, tax_percentage, discount_percentage,
                             payment_status, payment_method, payment_date, notes, created_at, updated_at)
select pg_temp.uid(s, 'billing_summary', n),
       pa.id,
       'DS-' || pg_temp.pad(n, 6),
       pa.discharge_date,
       pa.room_charges,
       0,
       case when pg_temp.r(s, 'bs.disc', n) < 0.2 then 10 else 0 end,
       (array['pending', 'paid', 'partial'])[1 + (pg_temp.h(s, 'bs.ps', n) %% 3)::int],
       (array['cash', 'card', 'upi', 'insurance'])[1 + (pg_temp.h(s, 'bs.pm', n) %% 4)::int],
       null,
       null,
       pa.discharge_date,
       pa.discharge_date
from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) n
join patient_admissions pa on pa.id = pg_temp.uid(s, 'patient_admissions', n)
where n = 1 or pg_temp.r(s, 'bs.has', n) < 0.7
