-- vitals: the wide DS row, one per recorded encounter (appointment or IP); one value per hit row is
-- out of range. recorded_by falls back to any doctor/admin user (Q30).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(na)s::bigint na, %(nipe)s::bigint nipe,
                  %(nv)s::bigint nv, %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt),
v as (
    select p.*, n, pg_temp.ri(s, 'vit.enc', n, na + nipe) as e,
           case when pg_temp.hit(s, 'vitals_out_of_range', n, (rt->>'vitals_out_of_range')::float8, nv)
                then 1 + (pg_temp.h(s, 'vit.oorw', n) %% 4)::int else 0 end as oor
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
)
insert into vitals (id, patient_id, encounter_id, recorded_by, blood_pressure_systolic, blood_pressure_diastolic,
                    heart_rate, temperature, respiratory_rate, oxygen_saturation, weight, height, pain_scale,
                    blood_glucose, notes, recorded_at, created_at, updated_at)
select pg_temp.uid(s, 'vitals', n),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np)),
       pg_temp.uid(s, 'encounter', e),
       pg_temp.uid(s, 'users', pg_temp.ri(s, 'vit.by', n, nd)),
       (100 + pg_temp.h(s, 'vit.sys', n) %% 60)::int,
       (60 + pg_temp.h(s, 'vit.dia', n) %% 40)::int,
       case when oor = 1 then 400 else (60 + pg_temp.h(s, 'vit.hr', n) %% 50)::int end,
       case when oor = 2 then 986.0 else round((97 + pg_temp.r(s, 'vit.t', n) * 4)::numeric, 1) end,
       case when pg_temp.r(s, 'vit.rrn', n) < 0.7 then (12 + pg_temp.h(s, 'vit.rr', n) %% 12)::int end,
       case when oor = 3 then 150 else (92 + pg_temp.h(s, 'vit.spo', n) %% 9)::int end,
       round((40 + pg_temp.r(s, 'vit.w', n) * 50)::numeric, 2),
       case when pg_temp.r(s, 'vit.hn', n) < 0.5 then round((145 + pg_temp.r(s, 'vit.h', n) * 40)::numeric, 2) end,
       case when oor = 4 then 42 when pg_temp.r(s, 'vit.pn', n) < 0.4 then (pg_temp.h(s, 'vit.p', n) %% 8)::int end,
       case when pg_temp.r(s, 'vit.gn', n) < 0.3 then round((80 + pg_temp.r(s, 'vit.g', n) * 200)::numeric, 1) end,
       case when pg_temp.r(s, 'vit.note', n) < 0.1 then 'recorded at triage' end,
       pg_temp.enc_start(s, e, np, as_of, span) + interval '10 minutes',
       pg_temp.enc_start(s, e, np, as_of, span) + interval '10 minutes',
       pg_temp.enc_start(s, e, np, as_of, span) + interval '10 minutes'
from v
