-- patient_visits (blueprint profile only): the design-era visit table the blueprint maps to
-- encounters; appointment_id has no FK and can dangle (orphan_fk).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(na)s::bigint na, %(nvisit)s::bigint nv,
                  %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt, %(symptoms)s::text[] sym),
v as (select p.*, n, pg_temp.ri(s, 'pv.enc', n, na) as e from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n offset 0)
insert into patient_visits (id, visit_id, patient_id, doctor_id, appointment_id, visit_date, visit_time, visit_type,
                            symptoms, current_complaints, vitals_recorded, status, created_at, updated_at)
select pg_temp.uid(s, 'patient_visits', n),
       'VIS' || pg_temp.pad(n, 7),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np)),
       case when pg_temp.r(s, 'pv.doc', n) < 0.9 then pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'enc.doc', e, nd)) end,
       case when pg_temp.hit(s, 'orphan_fk', n, (rt->>'orphan_fk')::float8, nv) then pg_temp.uid(s, 'appointment_lost', n)
            when pg_temp.r(s, 'pv.apt', n) < 0.7 then pg_temp.uid(s, 'appointment', e) end,
       (pg_temp.enc_start(s, e, np, as_of, span) at time zone 'Asia/Kolkata')::date,
       (pg_temp.enc_start(s, e, np, as_of, span) at time zone 'Asia/Kolkata')::time(0),
       (array['new_patient', 'follow_up', 'emergency', 'routine_checkup', 'consultation'])[1 + (pg_temp.h(s, 'pv.type', n) %% 5)::int],
       pg_temp.pick(sym, s, 'pv.sym', n),
       case when pg_temp.r(s, 'pv.cc', n) < 0.5 then pg_temp.pick(sym, s, 'pv.cc2', n) end,
       pg_temp.r(s, 'pv.vr', n) < 0.6,
       case when pg_temp.r(s, 'pv.st', n) < 0.8 then 'completed' else 'active' end,
       pg_temp.enc_start(s, e, np, as_of, span),
       pg_temp.enc_start(s, e, np, as_of, span)
from v
