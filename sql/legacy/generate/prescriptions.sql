-- prescriptions (contract defects 26, 28): on an appointment or IP encounter; appointment_id has no
-- FK and some values are ids of lost appointments rows; issue_date is a DATE; prescription_id is
-- 'RX' + 6 digits + 3 digits. Some statuses are outside the vocabulary.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(na)s::bigint na, %(nipe)s::bigint nipe,
                  %(nrx)s::bigint nrx, %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt,
                  %(diagnoses)s::text[] dia, %(unknown_statuses)s::text[] unk),
r as (
    select p.*, n, pg_temp.ri(s, 'rx.enc', n, na + nipe) as e
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
t as (select r.*, pg_temp.enc_start(s, e, np, as_of, span) as t0 from r offset 0)
insert into prescriptions (id, prescription_id, patient_id, doctor_id, encounter_id, appointment_id, issue_date,
                           instructions, diagnosis, notes, status, has_lab_tests, created_at, updated_at)
select pg_temp.uid(s, 'prescriptions', n),
       'RX' || pg_temp.pad(n, 6) || lpad((pg_temp.h(s, 'rx.rnd', n) %% 1000)::text, 3, '0'),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np)),
       pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'enc.doc', e, nd)),
       pg_temp.uid(s, 'encounter', e),
       case when pg_temp.hit(s, 'orphan_fk', n, (rt->>'orphan_fk')::float8, nrx) then pg_temp.uid(s, 'appointment_lost', n)
            when e <= na then pg_temp.uid(s, 'appointment', e) end,
       (t0 at time zone 'Asia/Kolkata')::date,
       case when pg_temp.r(s, 'rx.ins', n) < 0.5 then 'Review after ' || (3 + pg_temp.h(s, 'rx.rev', n) %% 12)::text || ' days' end,
       case when pg_temp.r(s, 'rx.dx', n) < 0.7 then pg_temp.pick(dia, s, 'rx.dxv', n) end,
       null,
       case when pg_temp.hit(s, 'unknown_status', n, (rt->>'unknown_status')::float8, nrx) then pg_temp.pick(unk, s, 'rx.unk', n)
            else (array['active', 'completed', 'completed', 'dispensed', 'cancelled'])[1 + (pg_temp.h(s, 'rx.st', n) %% 5)::int] end,
       pg_temp.r(s, 'rx.lab', n) < 0.2,
       t0 + interval '15 minutes',
       t0 + interval '15 minutes'
from t
