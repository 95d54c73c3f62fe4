-- clinical.appointments. Grain: one row per booked appointment slot.
-- Sources:
--   * appointment (the live table, Q27): one appointment per row; it hangs 1:1 off an encounter.
--     patient and doctor: those of its legacy encounter (encounter.patient_id -> core.patients,
--     encounter.clinician_id -> doctors -> core.staff, through provenance). Its encounter must be
--     a live clinical.encounters row, else ORPHAN_FK. scheduled_at: IST wall clock stored as UTC
--     (Q28), converted (WARN NAIVE_TIMESTAMP).
--     status: status_id -> ref_code (domain appt_status) -> ref.codes 'map:appointment.status'. A
--     status_id matching no ref_code loads status NULL with a WARN (ORPHAN_FK). A NULL status_id
--     (Q17, most rows) is derived (Q17: from the encounter): 'BOOKED' when the slot is after the
--     data's as-of (the latest write in the staged appointment/encounter rows: the moment the
--     legacy data describes); else 'DONE' when its encounter has an end (the consultation took
--     place; WARN DERIVED_STATUS); else NULL with a WARN (MISSING_STATUS): the outcome of a past
--     slot whose encounter never closed is not recorded (done or no-show).
--     _detail: 'warn' is a row's first warning, 'warns' all of them.
--   * appointments: in the live database a view over appointment (never staged, Q2); in the
--     blueprint profile a plain table with the view's columns holding copies of appointment rows.
--     A row whose id is a live appointment row is a copy: MERGED into it (nothing written; it
--     shares the base row's fate: when the base row does not load, for want of its encounter or
--     patient, the copy is quarantined too, ORPHAN_FK, and retried with it). A row with an id of
--     its own is an appointment of its own, mapped like appointment.
-- Work: the changed legacy rows, plus rows whose encounter, patient or doctor mapping changed this
-- run.
with encounter_map as materialized (
    select em.legacy_key, em.encounter_id, em.changed
    from etl.encounter_refs(%(run_id)s) as em
    where em.legacy_table = 'encounter'
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

doctor_ref as materialized (
    select * from etl.doctor_refs(%(run_id)s)
),

appointment_statuses as (
    select c.id as status_id, c.display as status
    from etl.legacy_codes('appt_status', 'map:appointment.status') as c
),

data_as_of as (
    select max(x.at) as as_of
    from (
        select greatest(a.created_at, a.updated_at) as at from stg.appointment as a where not a._deleted
        union all
        select greatest(e.created_at, e.updated_at) from stg.encounter as e where not e._deleted
    ) as x
),

-- live appointment rows, and whether each loads (its encounter and that encounter's patient are
-- loaded): the copies in appointments share that fate
live_appointments as (
    select a.id, em.encounter_id is not null and pr.patient_id is not null as loads
    from stg.appointment as a
    left join encounter_map as em on em.legacy_key = a.encounter_id::text
    left join stg.encounter as le on le.id = a.encounter_id and not le._deleted
    left join patient_ref as pr on pr.legacy_key = le.patient_id::text
    where not a._deleted
),

src as (
    select
        'appointment'::text as legacy_table,
        a._key,
        etl.canonical_id('clinical.appointments', 'appointment', a._key) as appointment_id,
        false as is_copy,
        true as base_loads,
        a.encounter_id,
        a.scheduled_at,
        a.status_id,
        a.created_at
    from stg.appointment as a
    where not a._deleted

    union all

    select
        'appointments',
        c._key,
        case when la.id is not null then etl.canonical_id('clinical.appointments', 'appointment', la.id::text)
             else etl.canonical_id('clinical.appointments', 'appointments', c._key) end,
        la.id is not null,
        coalesce(la.loads, true),
        c.encounter_id,
        c.scheduled_at,
        c.status_id,
        c.created_at
    from stg.appointments as c
    left join live_appointments as la on la.id = c.id
    where not c._deleted
),

resolved as (
    select
        s.*,
        em.encounter_id as canonical_encounter_id,
        pr.patient_id,
        dr.staff_id as doctor_id,
        le.clinician_id,
        le.end_at is not null as encounter_ended,
        etl.local_wall_clock(s.scheduled_at, %(facility_tz)s) as scheduled_at_utc,
        st.status_id as known_status_id,
        st.status as mapped_status,
        d.as_of
    from src as s
    cross join data_as_of as d
    left join encounter_map as em on em.legacy_key = s.encounter_id::text
    left join stg.encounter as le on le.id = s.encounter_id and not le._deleted
    left join patient_ref as pr on pr.legacy_key = le.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = le.clinician_id::text
    left join appointment_statuses as st on st.status_id = s.status_id
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as td on td.legacy_table = s.legacy_table and td.key = s._key
    where em.changed or pr.changed or dr.changed or td.key is not null
),

checked as (
    select
        r.*,
        array_remove(array[
            case when r.status_id is not null and r.known_status_id is null then 'ORPHAN_FK' end,  -- status_id
            case when r.status_id is not null and r.mapped_status is null
                      and r.known_status_id is not null then 'UNMAPPED_VALUE' end,  -- status_id
            case when r.status_id is null and not r.scheduled_at_utc > r.as_of
                 then case when r.encounter_ended then 'DERIVED_STATUS' else 'MISSING_STATUS' end end,
            case when r.clinician_id is not null and r.doctor_id is null then 'ORPHAN_FK' end,  -- doctor
            case when r.scheduled_at is not null then 'NAIVE_TIMESTAMP' end  -- scheduled_at (Q28)
        ], null) as warns
    from resolved as r
),

final as (
    select
        c.appointment_id,
        c.patient_id,
        c.doctor_id,
        etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
        c.scheduled_at_utc as scheduled_at,
        case
            when c.status_id is not null then c.mapped_status
            when c.scheduled_at_utc > c.as_of then 'BOOKED'
            when c.encounter_ended then 'DONE'
        end as status,
        coalesce(c.created_at, c.scheduled_at_utc) as created_at,
        c.legacy_table as _legacy_table,
        c._key as _legacy_key,
        case when c.is_copy then 'MERGED' else 'LOADED' end as _disposition,
        case when c.canonical_encounter_id is null or c.patient_id is null or not c.base_loads then 'ORPHAN_FK' end as _reason,
        case
            when c.canonical_encounter_id is null
                then jsonb_build_object('column', 'encounter_id', 'rule', 'no live encounter')
            when c.patient_id is null
                then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
            when not c.base_loads
                then jsonb_build_object('column', 'id', 'rule', 'the appointment row it copies is not loaded')
            when c.is_copy then jsonb_build_object('copy_of', 'appointment')
            when c.warns <> '{}' then jsonb_build_object('warn', c.warns[1], 'warns', c.warns)
        end as _detail
    from checked as c
)

select * from final
