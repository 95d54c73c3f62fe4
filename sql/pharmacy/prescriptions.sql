-- pharmacy.prescriptions. Grain: one row per prescription written during an encounter.
-- Source: prescriptions (one canonical row per legacy row, id etl.canonical_id of its key; never
-- merged). Its lines are pharmacy.rx_lines (prescription_items), its dispensing pharmacy.dispenses.
--
-- encounter (principle 3: a prescription hangs off its encounter), the first that resolves of:
--   1 encounter_id through provenance (etl.encounter_refs: the legacy encounter's own encounter,
--     or the IPD stay an IP-prescribing encounter is MERGED into, Q27);
--   2 the encounter of its appointment (appointment_id -> appointment.encounter_id, step 1's
--     lookup): WARN INFERRED_ENCOUNTER, detail.inferred 'appointment';
--   3 attached as clinical attaches encounter-less records (sql/clinical/encounters.sql): the
--     patient's (patient_id -> core.patients, duplicates merged) encounter in progress at
--     prescribed_at (start_at <= t <= end_at; without end_at 24 hours long, an open IPD stay still
--     running), the latest started: WARN INFERRED_ENCOUNTER, detail.inferred 'attached'.
--   Otherwise quarantined ORPHAN_FK (column encounter_id): the row is retried on every run that
--   writes an encounter. No encounter is created here (clinical.encounters infers encounters only
--   for the records it owns).
-- prescribed_by: doctor_id -> doctors -> core.staff (etl.doctor_refs); unresolved: NULL, WARN ORPHAN_FK.
-- prescribed_at: created_at (the true UTC instant the row was written) when its facility-local date
--   is issue_date (a DATE, Q28) or issue_date is NULL; else issue_date at local midnight (a
--   prescription entered later keeps the date written on it); else the encounter's start.
-- rx_number = prescription_id ('RX' + 6 + 3 digits, Q32), blanks cleaned; not unique (a repeat
--   loads). status: map:prescriptions.status by etl.norm_key (WARN VOCAB_VARIANT when the stored
--   spelling differs from its key); unknown: NULL, WARN UNKNOWN_STATUS. instructions, diagnosis,
--   notes: as written (pharmacy.clean_text).
-- Legacy columns: id (the key: provenance), patient_id (the encounter's patient is the patient;
--   read only to attach), doctor_id, encounter_id, issue_date, created_at (mapped above);
--   appointment_id: read to find the encounter; one naming no appointment row (its FK was dropped,
--   Q32) is reported (WARN ORPHAN_FK, LOAD_FK_NULL: not kept); kept in legacy_attributes:
--   appointment_id (when it names an appointment), issue_date, has_lab_tests (the lab orders are
--   clinical.lab_orders'), status (as written); updated_at: dropped (the canonical row has its own).
-- _detail: 'warn' is a row's first warning, 'warns' all of them; column names and rules only.
with prescriptions as (
    select s.*
    from stg.prescriptions as s
    where not s._deleted
),

encounter_map as materialized (
    select em.legacy_table, em.legacy_key, em.encounter_id
    from etl.encounter_refs(%(run_id)s) as em
    where em.legacy_table = 'encounter'
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

doctor_ref as materialized (
    select * from etl.doctor_refs(%(run_id)s)
),

appointments as (
    -- one row per legacy appointment id (a repeated id in a legacy table without its key: the
    -- first by key; its encounter is the one staging kept)
    select distinct on (a.id) a.id, a.encounter_id
    from stg.appointment as a
    where not a._deleted and a.id is not null
    order by a.id, a._key
),

statuses as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:prescriptions.status'
),

live_encounters as (
    select e.encounter_id, e.patient_id, e.type, e.start_at, e.end_at
    from clinical.encounters as e
    where e.deleted_at is null
),

resolved as materialized (
    select
        s._key,
        s.prescription_id,
        s.issue_date,
        s.instructions,
        s.diagnosis,
        s.notes,
        s.status,
        s.has_lab_tests,
        s.appointment_id,
        s.created_at,
        s.doctor_id,
        pr.patient_id,
        dr.staff_id as prescribed_by,
        own.encounter_id as own_encounter,
        ap.id is not null as appointment_found,
        apm.encounter_id as appointment_encounter,
        st.display as status_mapped,
        etl.norm_key(s.status) as status_key,
        case when s.issue_date is null or etl.local_date(s.created_at, %(facility_tz)s) = s.issue_date
                 then s.created_at
             else etl.local_wall_clock(s.issue_date, time '00:00', %(facility_tz)s) end as written_at
    from prescriptions as s
    left join encounter_map as own on own.legacy_key = s.encounter_id::text
    left join appointments as ap on ap.id = s.appointment_id
    left join encounter_map as apm on apm.legacy_key = ap.encounter_id::text
    left join patient_ref as pr on pr.legacy_key = s.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = s.doctor_id::text
    left join statuses as st on st.code = etl.norm_key(s.status)
),

-- rows whose encounter neither provenance nor the appointment gives: the patient's encounter in
-- progress at the prescription's time (the rule of sql/clinical/encounters.sql)
attached as (
    select distinct on (r._key)
        r._key,
        e.encounter_id
    from resolved as r
    join live_encounters as e
        on e.patient_id = r.patient_id
       and e.start_at <= r.written_at
       and r.written_at <= coalesce(e.end_at, case when e.type = 'IPD' then 'infinity'::timestamptz
                                                   else etl.ts_add(e.start_at, interval '24 hours') end)
    where r.own_encounter is null and r.appointment_encounter is null and r.written_at is not null
    order by r._key, e.start_at desc, e.encounter_id
),

placed as (
    select
        r.*,
        coalesce(r.own_encounter, r.appointment_encounter, a.encounter_id) as encounter_id,
        case when r.own_encounter is not null then null
             when r.appointment_encounter is not null then 'appointment'
             when a.encounter_id is not null then 'attached' end as inferred
    from resolved as r
    left join attached as a on a._key = r._key
),

checked as (
    select
        p.*,
        coalesce(p.written_at, e.start_at) as prescribed_at,
        array_remove(array[
            case when p.inferred is not null then 'INFERRED_ENCOUNTER' end,
            case when p.doctor_id is not null and p.prescribed_by is null then 'ORPHAN_FK' end,  -- doctor_id
            case when p.appointment_id is not null and not p.appointment_found then 'ORPHAN_FK' end,  -- appointment_id
            case when p.status_key is not null and p.status_mapped is null then 'UNKNOWN_STATUS'
                 when p.status_mapped is not null and p.status is distinct from p.status_key then 'VOCAB_VARIANT' end
        ], null) as warns,
        array_remove(array[
            case when p.doctor_id is not null and p.prescribed_by is null then 'doctor_id' end,
            case when p.appointment_id is not null and not p.appointment_found then 'appointment_id' end
        ], null) as orphan_columns
    from placed as p
    left join live_encounters as e on e.encounter_id = p.encounter_id
),

final as (
    select
        etl.canonical_id('pharmacy.prescriptions', 'prescriptions', c._key) as rx_id,
        c.encounter_id,
        c.prescribed_by,
        c.prescribed_at,
        pharmacy.clean_text(c.prescription_id) as rx_number,
        c.status_mapped as status,
        pharmacy.clean_text(c.instructions) as instructions,
        pharmacy.clean_text(c.diagnosis) as diagnosis,
        pharmacy.clean_text(c.notes) as notes,
        jsonb_strip_nulls(jsonb_build_object(
            'appointment_id', case when c.appointment_found then c.appointment_id end,
            'issue_date', c.issue_date,
            'has_lab_tests', c.has_lab_tests,
            'status', c.status)) as legacy_attributes,
        coalesce(c.created_at, c.prescribed_at) as created_at,
        'prescriptions'::text as _legacy_table,
        c._key as _legacy_key,
        'LOADED'::text as _disposition,
        case when c.encounter_id is null then 'ORPHAN_FK'
             when c.prescribed_at is null then 'MISSING_VALUE' end as _reason,
        case
            when c.encounter_id is null
                then jsonb_build_object('column', 'encounter_id',
                                        'rule', 'no live encounter: not by provenance, appointment or the patient''s encounter in progress')
            when c.prescribed_at is null
                then jsonb_build_object('column', 'issue_date', 'rule', 'prescription without any date')
            when c.warns <> '{}'
                then jsonb_strip_nulls(jsonb_build_object(
                    'warn', c.warns[1], 'warns', to_jsonb(c.warns), 'inferred', c.inferred,
                    'columns', case when c.orphan_columns <> '{}' then to_jsonb(c.orphan_columns) end))
        end as _detail
    from checked as c
)

select * from final
