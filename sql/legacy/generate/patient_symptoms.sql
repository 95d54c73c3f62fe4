-- patient_symptoms (blueprint profile only; live symptoms are patients.initial_symptoms text)
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(as_of)s::date as_of, %(span)s::int span, %(symptoms)s::text[] sym)
insert into patient_symptoms (id, patient_id, symptom_name, severity, onset_date, recorded_at)
select pg_temp.uid(s, 'patient_symptoms', n),
       pg_temp.uid(s, 'patients', pg_temp.ri(s, 'ps.pat', n, np)),
       pg_temp.pick(sym, s, 'ps.sym', n),
       (array['mild', 'moderate', 'severe'])[1 + (pg_temp.h(s, 'ps.sev', n) %% 3)::int],
       pg_temp.at(as_of - 3 - (pg_temp.h(s, 'ps.t', n) %% (span - 3))::int, 0.3),
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'ps.t', n) %% (span - 3))::int, 0.5)
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
