-- compat view body: departments. Grain: one row per legacy departments row LOADED into a live
-- core.departments row (ops.legacy_id_map, canonical_table core.departments).
-- Sources: core.departments (name, created_at), ops.legacy_kept (description,
-- head_of_department, location, phone, status, updated_at).
-- Normalisations: name is trimmed (sql/core/departments.sql).
with department_map as (
    select m.legacy_key, m.canonical_id as department_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'core.departments' and m.legacy_table = 'departments'
      and m.disposition in ('LOADED', 'MERGED')
),

final as (
    select
        m.legacy_key as id,
        d.name,
        k.attrs ->> 'description' as description,
        k.attrs ->> 'head_of_department' as head_of_department,
        k.attrs ->> 'location' as location,
        k.attrs ->> 'phone' as phone,
        k.attrs ->> 'status' as status,
        d.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from department_map as m
    join core.departments as d on d.department_id = m.department_id and d.deleted_at is null
    left join ops.legacy_kept as k on k.legacy_table = 'departments' and k.legacy_key = m.legacy_key
)

select * from final
