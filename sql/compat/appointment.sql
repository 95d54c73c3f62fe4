-- compat view body: appointment (legacy shape over clinical.appointments).
-- Grain: one row per legacy appointment row LOADED or MERGED in ops.legacy_id_map
-- (canonical_table clinical.appointments) whose canonical appointment is live (deleted_at null).
-- Sources: ops.legacy_id_map, clinical.appointments, core.facilities (the facility's zone),
-- ops.legacy_kept (encounter_id, duration_minutes, status_id, booking_method), ref.codes.
-- Normalisations (the inverse of sql/clinical/appointments.sql):
--   * id: the legacy key from provenance (a MERGED copy answers under its own id with the values of
--     the appointment it was merged into).
--   * scheduled_at: canonical holds the true instant of the IST wall clock the legacy stored as UTC
--     (Q28); read back as that wall clock stored as UTC again (exact; instants outside
--     etl.ts_shiftable are kept as they are, as the transform does).
--   * status_id: the kept legacy ref_code id while canonical status still says what it says
--     (its mapped status, or for a NULL id a status the transform derives: BOOKED, DONE or NULL);
--     when canonical status was changed since, the legacy appt_status code of the canonical status
--     (BOOKED -> scheduled, DONE -> completed, CANCELLED -> cancelled; NO_SHOW has none: NULL).
--   * created_at: canonical created_at (the legacy value, or scheduled_at when it was NULL).
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * encounter_id, duration_minutes, booking_method: the kept legacy values.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = '@table@'
      and m.canonical_table = 'clinical.appointments'
      and m.disposition in ('LOADED', 'MERGED')
),

appointments as (
    select a.*
    from clinical.appointments as a
    where a.deleted_at is null
),

facility as (
    select f.timezone
    from core.facilities as f
    where f.facility_id = etl.canonical_id('core.facilities', 'settings', 'facility')
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = '@table@'
),

-- legacy appt_status ref_code ids with their code and canonical status
appt_codes as (
    select m.legacy_key::uuid as status_id, c.code, s.display as status
    from ops.legacy_id_map as m
    join ref.codes as c
        on c.system = 'legacy.appt_status'
       and etl.canonical_id('ref.codes', c.system, c.code) = m.canonical_id
    left join ref.codes as s on s.system = 'map:appointment.status' and s.code = etl.norm_key(c.code)
    where m.legacy_table = 'ref_code' and m.canonical_table = 'ref.codes' and m.disposition = 'LOADED'
),

-- the one legacy code each canonical status is written back as
status_codes as (
    select distinct on (v.status) v.status, ac.status_id
    from (values ('BOOKED', 'scheduled'), ('DONE', 'completed'), ('CANCELLED', 'cancelled')) as v (status, code)
    join appt_codes as ac on ac.code = v.code
    order by v.status, ac.status_id
),

joined as (
    select
        p.legacy_key,
        a.scheduled_at,
        a.status,
        a.created_at,
        k.attrs,
        (k.attrs ->> 'status_id')::uuid as kept_status_id,
        ac.status_id is not null as kept_code_known,
        ac.status as kept_status
    from provenance as p
    join appointments as a on a.appointment_id = p.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
    left join appt_codes as ac on ac.status_id = (k.attrs ->> 'status_id')::uuid
),

final as (
    select
        j.legacy_key as id,
        j.attrs ->> 'encounter_id' as encounter_id,
        case when etl.ts_shiftable(j.scheduled_at)
             then (j.scheduled_at at time zone f.timezone) at time zone 'UTC'
             else j.scheduled_at end as scheduled_at,
        j.attrs ->> 'duration_minutes' as duration_minutes,
        case
            when j.kept_status_id is null and (j.status is null or j.status in ('BOOKED', 'DONE')) then null
            when j.kept_status_id is not null and (not j.kept_code_known or j.kept_status is not distinct from j.status)
                then j.kept_status_id
            else sc.status_id
        end as status_id,
        j.attrs ->> 'booking_method' as booking_method,
        j.created_at,
        (j.attrs ->> 'updated_at')::timestamptz as updated_at
    from joined as j
    cross join facility as f
    left join status_codes as sc on sc.status = j.status
)

select * from final
