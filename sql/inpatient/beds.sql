-- inpatient.beds. Grain: one row per legacy bed. Source: beds.
-- label = bed_number; type/status mapped through ref.codes ('map:beds.bed_type', 'map:beds.status');
-- an unmapped value loads NULL with a WARN (UNMAPPED_VALUE). ward: the ward of the bed's
-- department (see wards.sql); a bed without a (loaded) ward loads with ward_id NULL and a WARN
-- (NO_WARD).
with src as (
    select s.*
    from stg.beds as s
    join _todo as t on t.legacy_table = 'beds' and t.key = s._key
    where not s._deleted
),

resolved as (
    select
        s._key,
        s.created_at,
        trim(s.bed_number) as label,
        s.bed_type,
        s.status as legacy_status,
        w.ward_id,
        tm.display as type,
        sm.display as status
    from src as s
    left join inpatient.wards as w
        on w.ward_id = etl.canonical_id('inpatient.wards', 'departments', s.department_id::text)
       and w.deleted_at is null
    left join ref.codes as tm on tm.system = 'map:beds.bed_type' and tm.code = lower(trim(s.bed_type))
    left join ref.codes as sm on sm.system = 'map:beds.status' and sm.code = lower(trim(s.status))
),

final as (
    select
        etl.canonical_id('inpatient.beds', 'beds', r._key) as bed_id,
        r.ward_id,
        r.label,
        r.type,
        r.status,
        r.created_at,
        'beds'::text as _legacy_table,
        r._key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case
            when r.ward_id is null then jsonb_build_object('warn', 'NO_WARD')
            when r.type is null and r.bed_type is not null
                then jsonb_build_object('warn', 'UNMAPPED_VALUE', 'column', 'bed_type')
            when r.status is null and r.legacy_status is not null
                then jsonb_build_object('warn', 'UNMAPPED_VALUE', 'column', 'status')
        end as _detail
    from resolved as r
)

select * from final
