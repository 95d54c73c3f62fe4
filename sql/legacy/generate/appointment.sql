-- appointment: one per appointment encounter (same index); scheduled_at is the IST wall clock
-- stored as UTC (contract defect 25); status_id mostly NULL (contract defect 14).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(as_of)s::date as_of, %(span)s::int span)
insert into appointment (id, encounter_id, scheduled_at, duration_minutes, status_id, booking_method, created_at, updated_at)
select pg_temp.uid(s, 'appointment', n),
       pg_temp.uid(s, 'encounter', n),
       pg_temp.ist_as_utc(pg_temp.enc_start(s, n, np, as_of, span)),
       case when pg_temp.r(s, 'apt.dur', n) < 0.7 then 30 else 15 end,
       case when pg_temp.r(s, 'apt.st', n) < 0.15 then pg_temp.uid(s, 'ref_code', 5 + pg_temp.ri(s, 'apt.stv', n, 6)) end,
       case when pg_temp.r(s, 'apt.bm', n) < 0.5 then 'walk_in' when pg_temp.r(s, 'apt.bm', n) < 0.9 then 'call' end,
       pg_temp.enc_start(s, n, np, as_of, span) - interval '2 days',
       pg_temp.enc_start(s, n, np, as_of, span) - interval '2 days'
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
