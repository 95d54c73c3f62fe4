-- users, doctors, staff: patient logins, doctors.user_id holding auth ids, the same person in staff
with p as (select %(seed)s::bigint s, %(nsdoc)s::bigint nsdoc)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'patient_login', 'users', u.id::text, 'MERGE_INTO:' || pt.id::text, 'DUPLICATE',
       jsonb_build_object('level', 'person', 'uhid', u.employee_id)
from users u join patients pt on pt.patient_id = u.employee_id
where u.role = 'patient'
union all
select 'doctor_user_auth_id', 'doctors', d.id::text, 'LOAD_WITH_WARN', 'AMBIGUOUS_REF',
       jsonb_build_object('column', 'user_id', 'value', d.user_id, 'corrected', u.id)
from doctors d join users u on u.auth_id = d.user_id
where not exists (select 1 from users x where x.id = d.user_id)
union all
select 'scattered_person', 'staff', st.id::text,
       'MERGE_INTO:' || coalesce(st.user_id, case when j <= p.nsdoc then pg_temp.uid(p.s, 'users', j) end)::text,
       'DUPLICATE', jsonb_build_object('level', 'person', 'role', st.role)
from p cross join generate_series(1, (select count(*) from staff)) j
join staff st on st.id = pg_temp.uid(p.s, 'staff', j)
where st.user_id is not null or j <= p.nsdoc
