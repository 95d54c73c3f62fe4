-- medical_history (blueprint profile only): conditions with a free-text doctor_name whose spelling
-- varies (contract defect 21).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(nmh)s::bigint nmh, %(as_of)s::date as_of,
                  %(span)s::int span, %(rates)s::jsonb rt, %(conditions)s::text[] cond,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln),
m as (
    select p.*, n, pg_temp.ri(s, 'mh.docd', n, nd) as d,
           case when pg_temp.hit(s, 'free_text_doctor', n, (rt->>'free_text_doctor')::float8, nmh)
                then 1 + (pg_temp.h(s, 'mh.docv', n) %% 4)::int
                when pg_temp.r(s, 'mh.doc', n) < 0.8 then 0 end as v
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
m2 as (select m.*, pg_temp.first_name(s, 'doc', d, fm, ff) as df, pg_temp.last_name(s, 'doc', d, ln) as dl from m offset 0)
insert into medical_history (id, patient_id, condition_name, diagnosis_date, status, severity, treatment, notes,
                             doctor_name, created_at, updated_at)
select pg_temp.uid(s, 'medical_history', n),
       pg_temp.uid(s, 'patients', pg_temp.ri(s, 'mh.pat', n, np)),
       pg_temp.pick(cond, s, 'mh.cond', n),
       case when pg_temp.r(s, 'mh.dd', n) < 0.8 then as_of - (30 + pg_temp.h(s, 'mh.ddv', n) %% 3000)::int end,
       (array['active', 'chronic', 'managed', 'resolved'])[1 + (pg_temp.h(s, 'mh.st', n) %% 4)::int],
       (array['mild', 'moderate', 'severe'])[1 + (pg_temp.h(s, 'mh.sev', n) %% 3)::int],
       case when pg_temp.r(s, 'mh.tr', n) < 0.5 then 'On regular medication' end,
       null,
       case when v is not null then pg_temp.name_variant(df, dl, v) end,
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'mh.c', n) %% (span - 1))::int, 0.3),
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'mh.c', n) %% (span - 1))::int, 0.3)
from m2
