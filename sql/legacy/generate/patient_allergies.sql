-- patient_allergies (blueprint profile only; empty live, where allergies are patients.allergies text)
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(as_of)s::date as_of, %(span)s::int span)
insert into patient_allergies (id, patient_id, allergen, reaction, severity, recorded_at)
select pg_temp.uid(s, 'patient_allergies', n),
       pg_temp.uid(s, 'patients', pg_temp.ri(s, 'pa.pat', n, np)),
       (array['Penicillin', 'Sulfonamides', 'Aspirin', 'Ibuprofen', 'Peanuts', 'Dust mite', 'Latex', 'Seafood'])[1 + (pg_temp.h(s, 'pa.al', n) %% 8)::int],
       (array['Rash', 'Urticaria', 'Breathlessness', 'Itching', null])[1 + (pg_temp.h(s, 'pa.re', n) %% 5)::int],
       (array['mild', 'moderate', 'severe', 'life_threatening'])[1 + (pg_temp.h(s, 'pa.sev', n) %% 4)::int],
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'pa.t', n) %% (span - 1))::int, 0.4)
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
