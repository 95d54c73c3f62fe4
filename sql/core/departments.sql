-- core.departments. Grain: one row per legacy department. Source: departments.
-- type: the legacy table has none; it comes from the explicit mapping data in ref.codes
-- (system 'map:departments.type', code = lower-case department name; the legacy name is compared
-- by etl.norm_key: case, spaces, Unicode form). An unmapped name keeps the
-- row with type NULL and is counted as a WARN (UNMAPPED_VALUE).
with src as (
    select s.*
    from stg.departments as s
    join _todo as t on t.legacy_table = 'departments' and t.key = s._key
    where not s._deleted
),

final as (
    select
        etl.canonical_id('core.departments', 'departments', s._key) as department_id,
        etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
        trim(s.name) as name,
        m.display as type,
        s.created_at,
        'departments'::text as _legacy_table,
        s._key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when m.display is null then jsonb_build_object('warn', 'UNMAPPED_VALUE', 'column', 'type') end as _detail
    from src as s
    left join ref.codes as m on m.system = 'map:departments.type' and m.code = etl.norm_key(s.name)
)

select * from final
