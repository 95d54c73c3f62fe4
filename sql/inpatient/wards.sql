-- inpatient.wards. Grain: one row per department that has beds. The legacy DB has no wards: a
-- ward is the bed area of a department (beds.department_id), named after the department.
-- Derived (recomputed whole each run; the upsert writes only what changed), so a department that
-- loses its last bed has its ward soft-deleted. Legacy key: the department id (ward key
-- 'department:<id>' in words); provenance rows are ('departments', <id>) -> inpatient.wards.
-- A department that is not loaded in core.departments keeps its ward with department_id NULL and a
-- WARN (UNRESOLVED_DEPARTMENT). Beds without a department get no ward (see beds.sql). created_at:
-- the ward's first bed.
with bed_departments as (
    select b.department_id::text as department_key, min(b.created_at) as created_at
    from stg.beds as b
    where not b._deleted and b.department_id is not null
    group by b.department_id
),

legacy_departments as (
    select d._key, trim(d.name) as name
    from stg.departments as d
    where not d._deleted
),

department_map as materialized (
    select dm.legacy_key, dm.canonical_id as department_id
    from etl.mapped_ids('core.departments', 'departments') as dm
),

resolved as (
    select
        b.department_key,
        ld.name,
        cd.department_id,
        b.created_at
    from bed_departments as b
    left join legacy_departments as ld on ld._key = b.department_key
    left join department_map as dm on dm.legacy_key = b.department_key
    left join core.departments as cd on cd.department_id = dm.department_id and cd.deleted_at is null
),

final as (
    select
        etl.canonical_id('inpatient.wards', 'departments', r.department_key) as ward_id,
        r.department_id,
        etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
        r.name,
        r.created_at,
        'departments'::text as _legacy_table,
        r.department_key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when r.department_id is null then jsonb_build_object('warn', 'UNRESOLVED_DEPARTMENT') end as _detail
    from resolved as r
)

select * from final
