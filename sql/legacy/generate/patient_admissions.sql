-- patient_admissions: discharge-attempt headers (contract defect 28), on the first allocations
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(na)s::bigint na, %(as_of)s::date as_of, %(span)s::int span,
                  %(diagnoses)s::text[] dia)
insert into patient_admissions (id, patient_id, bed_allocation_id, admission_date, discharge_date, status, admission_type,
    primary_diagnosis, secondary_diagnosis, treatment_summary, discharge_notes, total_stay_days, room_charges,
    total_bill_amount, created_at, updated_at)
select pg_temp.uid(s, 'patient_admissions', n),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, na + n, np)),
       pg_temp.uid(s, 'bed_allocations', n),
       pg_temp.enc_start(s, na + n, np, as_of, span),
       pg_temp.enc_start(s, na + n, np, as_of, span) + interval '4 days',
       'discharged',
       (array['emergency', 'elective', 'transfer'])[1 + (pg_temp.h(s, 'pad.at', n) %% 3)::int],
       pg_temp.pick(dia, s, 'pad.dx', n),
       null, null,
       'Discharge initiated',
       4,
       4 * 1500,
       0,
       pg_temp.enc_start(s, na + n, np, as_of, span) + interval '4 days',
       pg_temp.enc_start(s, na + n, np, as_of, span) + interval '4 days'
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
