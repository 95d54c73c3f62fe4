-- doctors: no name column (the name is users.name). user_id holds users.auth_id for doctors created
-- by doctorService and users.id for older rows (contract defect 22).
with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(as_of)s::date as_of, %(span)s::int span,
                  %(rates)s::jsonb rt, %(specs)s::text[] sp, %(quals)s::text[] qu, %(depts)s::text[] dep)
insert into doctors (id, user_id, license_number, specialization, qualification, years_of_experience,
                     consultation_fee, availability_hours, availability_type, room_number, max_patients_per_day,
                     status, sort_order, deleted_at, created_at, updated_at)
select pg_temp.uid(s, 'doctors', d),
       case when pg_temp.hit(s, 'doctor_user_auth_id', d, (rt->>'doctor_user_auth_id')::float8, nd)
            then pg_temp.uid(s, 'auth', d) else pg_temp.uid(s, 'users', d) end,
       'TNMC-' || (40000 + d * 7)::text,
       pg_temp.pick(sp, s, 'doc.spec', d),
       pg_temp.pick(qu, s, 'doc.qual', d),
       (2 + pg_temp.h(s, 'doc.exp', d) %% 30)::int,
       (300 + 100 * (pg_temp.h(s, 'doc.fee', d) %% 8))::numeric(10, 2),
       jsonb_build_object(
           'sessions', jsonb_build_array('morning', 'evening'),
           'availableSessions', case when pg_temp.r(s, 'doc.av', d) < 0.5 then jsonb_build_array('morning') else jsonb_build_array('morning', 'evening') end,
           'workingDays', jsonb_build_array('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'),
           'emergencyAvailable', pg_temp.r(s, 'doc.em', d) < 0.3,
           'floorNumber', (pg_temp.h(s, 'doc.floor', d) %% 4)::int,
           'workingHoursStart', '09:00',
           'workingHoursEnd', '17:00',
           'department', lower(pg_temp.pick(sp, s, 'doc.spec', d))),
       case when pg_temp.r(s, 'doc.oncall', d) < 0.15 then 'on_call' else 'session_based' end,
       'OPD-' || (100 + d)::text,
       (20 + 10 * (pg_temp.h(s, 'doc.max', d) %% 5))::int,
       case when pg_temp.r(s, 'doc.st', d) < 0.06 then 'on_leave' when pg_temp.r(s, 'doc.st', d) < 0.1 then 'inactive' else 'active' end,
       d::int,
       null::timestamptz,
       pg_temp.at(as_of - span - 20, 0.3),
       pg_temp.at(as_of - span - 20, 0.3)
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) d
