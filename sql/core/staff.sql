-- core.staff. Grain: one row per person who works at the facility.
-- Sources: users (staff logins: every role but 'patient'), staff, doctors. The same human appears
-- in several (Q26); they share one person (core.persons) and so one staff row: the row that owns
-- the person (a staff login, or a staff row without login) is LOADED, the others MERGED.
-- department: staff.department_id, else users.department free text matched to a department name
-- (case-insensitive), else NULL with a WARN. role: legacy role mapped by ref.codes 'map:staff.role'.
-- license_no: the doctor row of the login (doctors.user_id = users.id or users.auth_id, Q25).
with src as (
    select 'users'::text as src, u._key, u.role as legacy_role, u.department as department_text,
           null::uuid as department_legacy_id, u.joined_date::timestamptz as active_from,
           case when u.status in ('inactive', 'suspended') then u.updated_at end as active_to,
           u.id as user_id, u.auth_id, u.created_at
    from stg.users as u
    join _todo as t on t.legacy_table = 'users' and t.key = u._key
    where not u._deleted and u.role <> 'patient'

    union all

    select 'staff', s._key, s.role, null, s.department_id, s.hire_date::timestamptz,
           case when not s.is_active then s.updated_at end, s.user_id, null, s.created_at
    from stg.staff as s
    join _todo as t on t.legacy_table = 'staff' and t.key = s._key
    where not s._deleted

    union all

    select 'doctors', d._key, 'doctor', null, null, null, null, null, null, d.created_at
    from stg.doctors as d
    join _todo as t on t.legacy_table = 'doctors' and t.key = d._key
    where not d._deleted
),

departments as (
    select d._key, lower(trim(d.name)) as name_key from stg.departments as d where not d._deleted
),

person_map as materialized (
    select pm.legacy_table, pm.legacy_key, pm.canonical_id as person_id, pm.disposition
    from etl.mapped_ids('core.persons') as pm
    where pm.legacy_table in ('users', 'staff', 'doctors')
),

department_map as materialized (
    select dm.legacy_key, dm.canonical_id as department_id
    from etl.mapped_ids('core.departments', 'departments') as dm
),

with_person as (
    select s.*, pm.person_id, pm.disposition as person_disposition
    from src as s
    left join person_map as pm on pm.legacy_table = s.src and pm.legacy_key = s._key
),

final as (
    select
        etl.canonical_id('core.staff', 'core.persons', w.person_id::text) as staff_id,
        w.person_id,
        case when dm.department_id is not null then dm.department_id
             else etl.canonical_id('core.departments', 'departments', coalesce(
                 (select d._key from departments as d where d.name_key = lower(trim(w.department_text))),
                 (select s.department_id::text from stg.staff as s
                  where s.user_id = w.user_id and not s._deleted and s.department_id is not null
                  order by s._key limit 1)))
        end as department_id,
        etl.canonical_id('core.staff_roles', 'role', coalesce(rm.display, lower(trim(w.legacy_role)))) as role_id,
        (select doc.license_number from stg.doctors as doc
         where not doc._deleted and (doc.user_id = w.user_id or doc.user_id = w.auth_id)
         order by (doc.user_id = w.user_id) desc, doc._key limit 1) as license_no,
        w.active_from,
        w.active_to,
        w.created_at,
        w.src as _legacy_table,
        w._key as _legacy_key,
        case when w.person_disposition = 'LOADED' then 'LOADED' else 'MERGED' end as _disposition,
        case when w.person_id is null then 'ORPHAN_FK' end as _reason,
        case when w.person_id is null then jsonb_build_object('rule', 'staff member has no person (see core.persons)') end as _detail
    from with_person as w
    left join department_map as dm on dm.legacy_key = w.department_legacy_id::text
    left join ref.codes as rm on rm.system = 'map:staff.role' and rm.code = lower(trim(w.legacy_role))
),

checked as (
    -- a department reference that resolves to no loaded department is dropped with a WARN
    select
        f.staff_id, f.person_id,
        d.department_id,
        f.role_id, f.license_no, f.active_from, f.active_to, f.created_at,
        f._legacy_table, f._legacy_key, f._disposition, f._reason,
        coalesce(f._detail, case when f._disposition = 'LOADED' and d.department_id is null
                                 then jsonb_build_object('warn', 'UNRESOLVED_DEPARTMENT') end) as _detail
    from final as f
    left join core.departments as d on d.department_id = f.department_id and d.deleted_at is null
)

select * from checked
