-- compat view body: users. Grain: one row per legacy users row LOADED or MERGED into a live
-- core.users row (ops.legacy_id_map, canonical_table core.users).
-- Sources: core.users (email, created_at), core.persons (name, phone: the login's person; a patient
-- login's person is the patient's), core.staff + core.staff_roles (role of a staff login), ops.legacy_kept
-- (auth_id, employee_id, specialization, department, address, joined_date, status, permissions,
-- party_id, updated_at).
-- Normalisations:
--   * name: persons first_name + ' ' + last_name: a leading 'Dr.'/'Dr' was not carried, whitespace
--     collapsed; a patient login shows the patient's registered name;
--   * email: core.users.email (trimmed, lower case); a patient login's '<UHID>@annam.com' reads back
--     with the UHID as written in employee_id;
--   * role: the staff role name (the map of users.role is the identity); a login without a staff row
--     (a patient login) reads 'patient';
--   * phone: the 10-digit national number of persons.phone.
with user_map as (
    select m.legacy_key, m.canonical_id as user_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'core.users' and m.legacy_table = 'users' and m.disposition in ('LOADED', 'MERGED')
),

staff_roles as (
    select m.legacy_key, r.name as role
    from ops.legacy_id_map as m
    join core.staff as s on s.staff_id = m.canonical_id and s.deleted_at is null
    join core.staff_roles as r on r.role_id = s.role_id
    where m.canonical_table = 'core.staff' and m.legacy_table = 'users'
),

final as (
    select
        m.legacy_key as id,
        k.attrs ->> 'auth_id' as auth_id,
        k.attrs ->> 'employee_id' as employee_id,
        nullif(concat_ws(' ', pe.first_name, pe.last_name), '') as name,
        case when u.email = lower(k.attrs ->> 'employee_id') || '@annam.com'
             then (k.attrs ->> 'employee_id') || '@annam.com' else u.email end as email,
        coalesce(sr.role, 'patient') as role,
        k.attrs ->> 'specialization' as specialization,
        k.attrs ->> 'department' as department,
        right(pe.phone, 10) as phone,
        k.attrs ->> 'address' as address,
        k.attrs ->> 'joined_date' as joined_date,
        k.attrs ->> 'status' as status,
        k.attrs -> 'permissions' as permissions,
        k.attrs ->> 'party_id' as party_id,
        u.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from user_map as m
    join core.users as u on u.user_id = m.user_id and u.deleted_at is null
    left join core.persons as pe on pe.person_id = u.person_id
    left join staff_roles as sr on sr.legacy_key = m.legacy_key
    left join ops.legacy_kept as k on k.legacy_table = 'users' and k.legacy_key = m.legacy_key
)

select * from final
