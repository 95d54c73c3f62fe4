-- lab_tests (blueprint profile only): the panels the lab reports use
with p as (select %(seed)s::bigint s, %(lab_tests)s::text[] lt, %(lab_defs)s::text[] ld, %(as_of)s::date as_of, %(span)s::int span)
insert into lab_tests (id, test_code, test_name, category, description, sample_type, preparation_instructions,
                       normal_range, unit, price, turnaround_time, status, created_at, updated_at)
select pg_temp.uid(s, 'lab_tests', i),
       'LT-' || pg_temp.pad(i, 3),
       lt[i],
       case when lt[i] like 'Urine%%' then 'Clinical Pathology' else 'Biochemistry' end,
       lt[i] || ' (' || cardinality(string_to_array(ld[i], ';')) || ' parameters)',
       case when lt[i] like 'Urine%%' then 'Urine' else 'Blood' end,
       case when lt[i] in ('Lipid Profile', 'Blood Sugar') then 'Fasting 10-12 hours' end,
       null,
       null,
       (150 + 50 * i)::numeric(10, 2),
       case when i %% 2 = 0 then 'Same day' else '24 hours' end,
       'active',
       pg_temp.at(as_of - span - 10, 0.3),
       pg_temp.at(as_of - span - 10, 0.3)
from p, generate_series(1, cardinality(p.lt)) i
