-- inpatient.beds. Grain: one row per physical bed. Source: beds.
-- label = bed_number; type/status mapped through ref.codes ('map:beds.bed_type', 'map:beds.status');
-- an unmapped value loads NULL with a WARN (UNMAPPED_VALUE). ward: the ward of the bed's
-- department (see wards.sql); a bed without a (loaded) ward loads with ward_id NULL and a WARN
-- (NO_WARD).
-- Two live legacy rows of one department whose bed numbers differ only in case, spaces or Unicode
-- form (etl.norm_key) are one bed (a ward's labels are unique): the earliest (created_at, then key)
-- is LOADED, the others MERGED into it; inpatient.bed_allocations finds the bed through provenance.
with src as (
    select s.*
    from stg.beds as s
    join _todo as t on t.legacy_table = 'beds' and t.key = s._key
    where not s._deleted
),

-- the bed each live legacy row is: the earliest row of its department with the same number
survivors as (
    select
        b._key,
        case when etl.norm_key(b.bed_number) is not null
             then first_value(b._key) over (
                 partition by etl.norm_key(b.bed_number) is not null, b.department_id, etl.norm_key(b.bed_number)
                 order by b.created_at nulls last, b._key)
             else b._key end as bed_key
    from stg.beds as b
    where not b._deleted
),

resolved as (
    select
        s._key,
        sv.bed_key,
        s.created_at,
        trim(s.bed_number) as label,
        s.bed_type,
        s.status as legacy_status,
        w.ward_id,
        tm.display as type,
        sm.display as status
    from src as s
    join survivors as sv on sv._key = s._key
    left join inpatient.wards as w
        on w.ward_id = etl.canonical_id('inpatient.wards', 'departments', s.department_id::text)
       and w.deleted_at is null
    left join ref.codes as tm on tm.system = 'map:beds.bed_type' and tm.code = etl.norm_key(s.bed_type)
    left join ref.codes as sm on sm.system = 'map:beds.status' and sm.code = etl.norm_key(s.status)
),

final as (
    select
        etl.canonical_id('inpatient.beds', 'beds', r.bed_key) as bed_id,
        r.ward_id,
        r.label,
        r.type,
        r.status,
        r.created_at,
        'beds'::text as _legacy_table,
        r._key as _legacy_key,
        case when r.bed_key = r._key then 'LOADED' else 'MERGED' end as _disposition,
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
