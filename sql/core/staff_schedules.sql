-- core.staff_schedules. Grain: one row per doctor's recurring availability.
-- Source: doctors.availability_hours (JSON blob, Q31): workingDays, availableSessions,
-- workingHoursStart/End. pattern is a readable rule ('Mon,Tue,...; 09:00-17:00; morning,evening');
-- starts_at/ends_at are the first day's working hours in the facility's time zone (the legacy
-- hours are local wall-clock times: etl.local_wall_clock(local date of created_at, hours)). A
-- doctor without availability is skipped (not an error); a doctor whose staff row is quarantined
-- is quarantined here too (ORPHAN_FK).
with src as (
    select d.*
    from stg.doctors as d
    join _todo as t on t.legacy_table = 'doctors' and t.key = d._key
    where not d._deleted and d.availability_hours is not null
),

staff_map as materialized (
    select sm.legacy_key, sm.canonical_id as staff_id
    from etl.mapped_ids('core.staff', 'doctors') as sm
),

parsed as (
    select
        s._key,
        s.created_at,
        etl.local_date(s.created_at, %(facility_tz)s) as first_day,
        sm.staff_id,
        (select string_agg(x, ',') from jsonb_array_elements_text(
            case when jsonb_typeof(s.availability_hours -> 'workingDays') = 'array'
                 then s.availability_hours -> 'workingDays' else '[]'::jsonb end) as x) as days,
        (select string_agg(x, ',') from jsonb_array_elements_text(
            case when jsonb_typeof(s.availability_hours -> 'availableSessions') = 'array'
                 then s.availability_hours -> 'availableSessions' else '[]'::jsonb end) as x) as sessions,
        s.availability_hours ->> 'workingHoursStart' as hours_start,
        s.availability_hours ->> 'workingHoursEnd' as hours_end
    from src as s
    left join staff_map as sm on sm.legacy_key = s._key
),

final as (
    select
        etl.canonical_id('core.staff_schedules', 'doctors', p._key) as schedule_id,
        p.staff_id,
        case when p.hours_start ~ '^\d{1,2}:\d{2}$'
             then etl.local_wall_clock(p.first_day, p.hours_start::time, %(facility_tz)s) end as starts_at,
        case when p.hours_end ~ '^\d{1,2}:\d{2}$'
             then etl.local_wall_clock(p.first_day, p.hours_end::time, %(facility_tz)s) end as ends_at,
        concat_ws('; ', p.days, concat_ws('-', p.hours_start, p.hours_end), p.sessions) as pattern,
        p.created_at,
        'doctors'::text as _legacy_table,
        p._key as _legacy_key,
        'LOADED'::text as _disposition,
        case when p.staff_id is null then 'ORPHAN_FK' end as _reason,
        case when p.staff_id is null then jsonb_build_object('rule', 'schedule needs the doctor''s staff row') end as _detail
    from parsed as p
)

select * from final
