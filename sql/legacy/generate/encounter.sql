-- encounter: rows 1..na own one appointment each (start_at written from a local date+time: IST
-- wall clock stored as UTC); na+1..na+nipe are IP-prescribing encounters of the bed allocations;
-- the rest are lab/scan placeholders with only patient_id and start_at (contract defects 14, 24, 25).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(na)s::bigint na, %(nipe)s::bigint nipe,
                  %(ne)s::bigint ne, %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt),
e as (
    select p.*, n,
           case when n <= na then 'appt' when n <= na + nipe then 'ip' else 'lab' end as kind,
           pg_temp.enc_start(s, n, np, as_of, span) as t0
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
)
insert into encounter (id, patient_id, clinician_id, department_id, type_id, status_id, start_at, end_at, created_at, updated_at)
select pg_temp.uid(s, 'encounter', n),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, n, np)),
       case when kind = 'appt' and pg_temp.r(s, 'enc.noclin', n) >= 0.1 then pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'enc.doc', n, nd))
            when kind = 'ip' and pg_temp.r(s, 'enc.noclin', n) < 0.2 then pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'enc.doc', n, nd)) end,
       case when kind = 'appt' then pg_temp.uid(s, 'departments', pg_temp.ri(s, 'enc.dep', n, 14)) end,
       case when kind = 'appt' and pg_temp.hit(s, 'dead_ref_code', n, (rt->>'dead_ref_code')::float8, na)
                 then pg_temp.uid(s, 'enc.placeholder_type', n)
            when kind = 'appt' and pg_temp.r(s, 'enc.type', n) < 0.1
                 then pg_temp.uid(s, 'ref_code', 30 + pg_temp.ri(s, 'enc.typev', n, 6)) end,
       case when kind = 'appt' and pg_temp.r(s, 'enc.stat', n) < 0.15
                 then pg_temp.uid(s, 'ref_code', 28 + pg_temp.ri(s, 'enc.statv', n, 2)) end,
       case when kind = 'appt' then pg_temp.ist_as_utc(t0) else t0 end,
       case when kind = 'appt' and pg_temp.r(s, 'enc.end', n) < 0.6 then pg_temp.ist_as_utc(t0) + interval '25 minutes'
            when kind = 'ip' and pg_temp.r(s, 'enc.end', n) < 0.5 then t0 + interval '3 days' end,
       t0 - case when kind = 'appt' then interval '2 days' else interval '0' end,
       t0 - case when kind = 'appt' then interval '2 days' else interval '0' end
from e
