-- compat view body: encounter (legacy shape over clinical.encounters).
-- Grain: one row per legacy encounter row LOADED or MERGED in ops.legacy_id_map (canonical_table
-- clinical.encounters) whose canonical encounter is live (deleted_at null).
-- Sources: ops.legacy_id_map (the encounter's own provenance; core.patients <- patients and
-- core.staff <- doctors to give FKs back as legacy ids), clinical.encounters, clinical.appointments,
-- core.facilities (the facility's zone), ops.legacy_kept (encounter: department_id, type_id,
-- status_id; appointment: encounter_id, to know the appointment-path encounters).
-- Normalisations (the inverse of sql/clinical/encounters.sql):
--   * id: the legacy key from provenance. A legacy encounter MERGED into an IPD stay (an IP
--     admission names it, Q27) answers under its own id with the stay's values (patient, attending
--     doctor, start_at/end_at of the admission).
--   * patient_id: the legacy patients id the canonical patient was LOADED from (a duplicate
--     registration merged into another shows the survivor's id); clinician_id: the legacy doctors
--     id mapped to the attending doctor's core.staff row (one doctors row per staff member; were
--     there two, the LOADED one, else the lowest key).
--   * start_at / end_at: for an encounter owned by an appointment (the appointment path: IST wall
--     clock stored as UTC, Q28) the canonical instant is read back as that wall clock stored as UTC;
--     other encounters hold true instants, as the legacy did.
--   * created_at: canonical created_at (the legacy value, or start_at when it was NULL).
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * department_id, type_id, status_id: the kept legacy values.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'encounter'
      and m.canonical_table = 'clinical.encounters'
      and m.disposition in ('LOADED', 'MERGED')
),

encounters as (
    select e.*
    from clinical.encounters as e
    where e.deleted_at is null
),

facility as (
    select f.timezone
    from core.facilities as f
    where f.facility_id = etl.canonical_id('core.facilities', 'settings', 'facility')
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'encounter'
),

-- legacy encounters that own a live appointment (appointment path, Q28)
appointment_encounters as (
    select distinct k.attrs ->> 'encounter_id' as encounter_key
    from ops.legacy_kept as k
    join ops.legacy_id_map as m
        on m.legacy_table = 'appointment' and m.legacy_key = k.legacy_key
       and m.canonical_table = 'clinical.appointments'
    join clinical.appointments as a on a.appointment_id = m.canonical_id and a.deleted_at is null
    where k.legacy_table = 'appointment'
      and k.attrs ->> 'encounter_id' is not null
),

final as (
    select
        p.legacy_key as id,
        pk.legacy_key as patient_id,
        dk.legacy_key as clinician_id,
        k.attrs ->> 'department_id' as department_id,
        k.attrs ->> 'type_id' as type_id,
        k.attrs ->> 'status_id' as status_id,
        case when ae.encounter_key is not null and etl.ts_shiftable(e.start_at)
             then (e.start_at at time zone f.timezone) at time zone 'UTC'
             else e.start_at end as start_at,
        case when ae.encounter_key is not null and etl.ts_shiftable(e.end_at)
             then (e.end_at at time zone f.timezone) at time zone 'UTC'
             else e.end_at end as end_at,
        e.created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at
    from provenance as p
    join encounters as e on e.encounter_id = p.canonical_id
    cross join facility as f
    left join kept as k on k.legacy_key = p.legacy_key
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.patients' and m.canonical_id = e.patient_id
          and m.legacy_table = 'patients' and m.disposition = 'LOADED'
        order by m.legacy_key
        limit 1
    ) as pk on true
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.staff' and m.canonical_id = e.attending_doctor_id
          and m.legacy_table = 'doctors'
        order by m.disposition = 'LOADED' desc, m.legacy_key
        limit 1
    ) as dk on true
    left join appointment_encounters as ae on ae.encounter_key = p.legacy_key
)

select * from final
