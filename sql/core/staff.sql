-- core.staff. Grain: one row per person who works at the facility.
-- Sources: users (staff logins: every login but a patient's, etl.is_patient_login), staff, doctors. The same human appears
-- in several (Q26); they share one person (core.persons) and so one staff row: the row that owns
-- the person (a staff login, or a staff row without login) is LOADED, the others MERGED.
-- department: staff.department_id, else users.department free text matched to the name of a loaded
-- department (both sides etl.norm_key: case, spaces, Unicode form), else the department of the
-- login's staff row, else NULL with a WARN (UNRESOLVED_DEPARTMENT). role: legacy role mapped by
-- ref.codes 'map:staff.role'. license_no: the doctor row of the login (doctors.user_id = users.id
-- or users.auth_id, Q25).
-- A lookup that finds several rows never fails: a department name shared by several loaded
-- departments resolves to the one with the smallest legacy key, a login with several staff rows to
-- the staff row with the smallest key, several doctor rows to the one naming users.id (then the
-- smallest key); each is counted as a WARN (AMBIGUOUS_LINK, detail.ambiguous names the lookup).
with src as (
    select 'users'::text as src, u._key, u.role as legacy_role, u.department as department_text,
           null::uuid as department_legacy_id, etl.date_ts(u.joined_date) as active_from,
           case when etl.norm_key(u.status) in ('inactive', 'suspended') then u.updated_at end as active_to,
           u.id as user_id, u.auth_id, u.created_at
    from stg.users as u
    join _todo as t on t.legacy_table = 'users' and t.key = u._key
    where not u._deleted and not etl.is_patient_login(u.role)

    union all

    select 'staff', s._key, s.role, null, s.department_id, etl.date_ts(s.hire_date),
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

person_map as materialized (
    select pm.legacy_table, pm.legacy_key, pm.canonical_id as person_id, pm.disposition
    from etl.mapped_ids('core.persons') as pm
    where pm.legacy_table in ('users', 'staff', 'doctors')
),

department_map as materialized (
    select dm.legacy_key, dm.canonical_id as department_id
    from etl.mapped_ids('core.departments', 'departments') as dm
),

-- loaded departments by normalized name: one row per name, the smallest legacy key, and how many
-- departments share the name (more than one: AMBIGUOUS_LINK)
department_names as materialized (
    select etl.norm_key(d.name) as name_key, min(d._key) as department_key, count(*) as matches
    from stg.departments as d
    join department_map as dm on dm.legacy_key = d._key
    join core.departments as cd on cd.department_id = dm.department_id and cd.deleted_at is null
    where not d._deleted and etl.norm_key(d.name) is not null
    group by 1
),

-- the department of a login's staff rows (the smallest key with a department), and how many
staff_departments as (
    select s.user_id, (array_agg(s.department_id::text order by s._key))[1] as department_key, count(*) as matches
    from stg.staff as s
    where not s._deleted and s.user_id is not null and s.department_id is not null
    group by s.user_id
),

-- the doctor rows naming a login (doctors.user_id holds users.id or users.auth_id): the license of
-- the smallest key, and how many
doctor_licenses as (
    select d.user_id, (array_agg(d.license_number order by d._key))[1] as license_number, count(*) as matches
    from stg.doctors as d
    where not d._deleted and d.user_id is not null
    group by d.user_id
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
             else etl.canonical_id('core.departments', 'departments', coalesce(dn.department_key, sd.department_key))
        end as department_id,
        etl.canonical_id('core.staff_roles', 'role', coalesce(rm.display, etl.norm_key(w.legacy_role))) as role_id,
        case when di.user_id is not null then di.license_number else da.license_number end as license_no,
        w.active_from,
        w.active_to,
        w.created_at,
        w.src as _legacy_table,
        w._key as _legacy_key,
        case when w.person_disposition = 'LOADED' then 'LOADED' else 'MERGED' end as _disposition,
        case when w.person_id is null then 'ORPHAN_FK' end as _reason,
        case when w.person_id is null then jsonb_build_object('rule', 'staff member has no person (see core.persons)') end as _detail,
        array_remove(array[
            case when dm.department_id is null and dn.matches > 1 then 'department' end,
            case when dm.department_id is null and dn.department_key is null and sd.matches > 1 then 'staff' end,
            case when coalesce(di.matches, 0) + coalesce(da.matches, 0) > 1 then 'doctors' end], null) as ambiguous
    from with_person as w
    left join department_map as dm on dm.legacy_key = w.department_legacy_id::text
    left join department_names as dn on dn.name_key = etl.norm_key(w.department_text)
    left join staff_departments as sd on sd.user_id = w.user_id
    left join doctor_licenses as di on di.user_id = w.user_id
    left join doctor_licenses as da on da.user_id = w.auth_id and w.auth_id is distinct from w.user_id
    left join ref.codes as rm on rm.system = 'map:staff.role' and rm.code = etl.norm_key(w.legacy_role)
),

checked as (
    -- a department reference that resolves to no loaded department is dropped with a WARN
    select
        f.staff_id, f.person_id,
        d.department_id,
        f.role_id, f.license_no, f.active_from, f.active_to, f.created_at,
        f._legacy_table, f._legacy_key, f._disposition, f._reason,
        coalesce(f._detail, case
            when f._disposition = 'LOADED' and d.department_id is null and cardinality(f.ambiguous) > 0
                then jsonb_build_object('warn', 'UNRESOLVED_DEPARTMENT',
                                        'warns', array['UNRESOLVED_DEPARTMENT', 'AMBIGUOUS_LINK'],
                                        'ambiguous', f.ambiguous)
            when f._disposition = 'LOADED' and d.department_id is null
                then jsonb_build_object('warn', 'UNRESOLVED_DEPARTMENT')
            when f._disposition = 'LOADED' and cardinality(f.ambiguous) > 0
                then jsonb_build_object('warn', 'AMBIGUOUS_LINK', 'ambiguous', f.ambiguous)
        end) as _detail
    from final as f
    left join core.departments as d on d.department_id = f.department_id and d.deleted_at is null
)

select * from checked
