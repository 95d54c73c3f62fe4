-- core.staff_schedules. Grain: one row per doctor's recurring availability.
-- Source: doctors.availability_hours (JSON blob, Q31): workingDays, availableSessions,
-- workingHoursStart/End. pattern is a readable rule ('Mon,Tue,...; 09:00-17:00; morning,evening');
-- starts_at/ends_at are the first day's working hours in the facility's time zone (the legacy
-- hours are local wall-clock times: etl.local_wall_clock(local date of created_at, hours)). A
-- doctor without availability is skipped (not an error); a doctor whose staff row is quarantined
-- is quarantined here too (ORPHAN_FK).
-- A blob of another shape is quarantined (UNPARSEABLE_VALUE, detail names the column and the rule,
-- never the value), not loaded with NULLs: availability_hours that is not a JSON object (a scalar,
-- a list, JSON null); workingDays or availableSessions that is not a list of plain values (a
-- string, an object, a list of lists); workingHoursStart/End that is not a time of day 'HH:MM'
-- (etl.try_time: '25:00', '9am', an object).
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

shaped as (
    select
        s.*,
        jsonb_typeof(s.availability_hours) = 'object' as is_object,
        case when jsonb_typeof(s.availability_hours) = 'object' then s.availability_hours end as blob
    from src as s
),

parsed as (
    select
        s._key,
        s.created_at,
        etl.local_date(s.created_at, %(facility_tz)s) as first_day,
        sm.staff_id,
        s.is_object,
        (select string_agg(x #>> '{}', ',' order by n) from jsonb_array_elements(
            case when jsonb_typeof(s.blob -> 'workingDays') = 'array'
                 then s.blob -> 'workingDays' else '[]'::jsonb end) with ordinality as e (x, n)) as days,
        (select string_agg(x #>> '{}', ',' order by n) from jsonb_array_elements(
            case when jsonb_typeof(s.blob -> 'availableSessions') = 'array'
                 then s.blob -> 'availableSessions' else '[]'::jsonb end) with ordinality as e (x, n)) as sessions,
        -- a list member that is itself a list or an object, or a list field that is not a list
        coalesce(jsonb_typeof(s.blob -> 'workingDays'), 'null') not in ('array', 'null')
            or coalesce(jsonb_typeof(s.blob -> 'availableSessions'), 'null') not in ('array', 'null')
            or exists (select 1 from jsonb_array_elements(
                           case when jsonb_typeof(s.blob -> 'workingDays') = 'array' then s.blob -> 'workingDays'
                                else '[]'::jsonb end) as x (v)
                       where jsonb_typeof(x.v) in ('array', 'object'))
            or exists (select 1 from jsonb_array_elements(
                           case when jsonb_typeof(s.blob -> 'availableSessions') = 'array' then s.blob -> 'availableSessions'
                                else '[]'::jsonb end) as x (v)
                       where jsonb_typeof(x.v) in ('array', 'object')) as bad_list,
        s.blob ->> 'workingHoursStart' as hours_start,
        s.blob ->> 'workingHoursEnd' as hours_end,
        coalesce(jsonb_typeof(s.blob -> 'workingHoursStart'), 'null') not in ('string', 'null')
            or coalesce(jsonb_typeof(s.blob -> 'workingHoursEnd'), 'null') not in ('string', 'null') as bad_hours_type
    from shaped as s
    left join staff_map as sm on sm.legacy_key = s._key
),

checked as (
    select
        p.*,
        etl.try_time(p.hours_start) as start_time,
        etl.try_time(p.hours_end) as end_time,
        case
            when not p.is_object then 'availability_hours is not a JSON object'
            when p.bad_list then 'workingDays/availableSessions is not a list of plain values'
            when p.bad_hours_type
                 or (p.hours_start is not null and etl.try_time(p.hours_start) is null)
                 or (p.hours_end is not null and etl.try_time(p.hours_end) is null)
                then 'workingHoursStart/End is not a time of day HH:MM'
        end as unparseable
    from parsed as p
),

final as (
    select
        etl.canonical_id('core.staff_schedules', 'doctors', c._key) as schedule_id,
        c.staff_id,
        etl.local_wall_clock(c.first_day, c.start_time, %(facility_tz)s) as starts_at,
        etl.local_wall_clock(c.first_day, c.end_time, %(facility_tz)s) as ends_at,
        case when c.unparseable is null
             then concat_ws('; ', c.days, concat_ws('-', c.hours_start, c.hours_end), c.sessions) end as pattern,
        c.created_at,
        'doctors'::text as _legacy_table,
        c._key as _legacy_key,
        'LOADED'::text as _disposition,
        case when c.unparseable is not null then 'UNPARSEABLE_VALUE'
             when c.staff_id is null then 'ORPHAN_FK' end as _reason,
        case when c.unparseable is not null
                 then jsonb_build_object('column', 'availability_hours', 'rule', c.unparseable)
             when c.staff_id is null then jsonb_build_object('rule', 'schedule needs the doctor''s staff row') end as _detail
    from checked as c
)

select * from final
