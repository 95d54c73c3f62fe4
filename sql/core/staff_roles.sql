-- core.staff_roles. Grain: one row per canonical staff role. Derived (no legacy row of its own):
-- the distinct roles of users (staff logins), staff (title-case free text, Q26) and doctors,
-- mapped through ref.codes 'map:staff.role' by etl.norm_key (case, spaces, Unicode form: the key
-- core.staff derives role_id from); an unmapped role keeps that normalized text and is counted as
-- a WARN. scope from 'map:staff_roles.scope'.
with legacy_roles as (
    select etl.norm_key(u.role) as role from stg.users as u where not u._deleted and not etl.is_patient_login(u.role)
    union
    select etl.norm_key(s.role) from stg.staff as s where not s._deleted
    union
    select 'doctor' from stg.doctors as d where not d._deleted
),

mapped as (
    select distinct
        coalesce(m.display, r.role) as name,
        m.display is null as is_unmapped
    from legacy_roles as r
    left join ref.codes as m on m.system = 'map:staff.role' and m.code = r.role
    where r.role is not null
),

final as (
    select
        etl.canonical_id('core.staff_roles', 'role', m.name) as role_id,
        m.name,
        sc.display as scope,
        'role'::text as _legacy_table,
        m.name as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when bool_or(m.is_unmapped) then jsonb_build_object('warn', 'UNMAPPED_VALUE') end as _detail
    from mapped as m
    left join ref.codes as sc on sc.system = 'map:staff_roles.scope' and sc.code = m.name
    group by m.name, sc.display
)

select * from final
