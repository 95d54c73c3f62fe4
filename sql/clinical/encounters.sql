-- clinical.encounters. Grain: one row per patient encounter (OPD/ER visit, inpatient stay).
-- The backbone (principle 3): vitals, symptoms, lab orders, prescriptions and admissions hang off it.
--
-- Sources and rules:
--   * encounter: one encounter per legacy row. type: type_id -> ref_code (domain encounter_type)
--     -> ref.codes 'map:encounter.type'; a type_id matching no ref_code (placeholder uuids, Q17)
--     loads type NULL with a WARN (ORPHAN_FK). A NULL type_id (Q17) is classified by origin (Q27):
--     'OPD' when the encounter owns an appointment (the OPD booking flow), else NULL.
--     Appointment-path rows hold start_at/end_at as IST wall clock stored as UTC (Q28): converted
--     with etl.local_wall_clock, WARN NAIVE_TIMESTAMP; other rows are true UTC.
--     clinician_id -> doctors -> core.staff. A lab/scan/IP-prescribing placeholder (Q27: no
--     appointment, clinician, department, type or status) loads with a WARN (PLACEHOLDER_ROW).
--     A legacy encounter that an IP admission points at (bed_allocations.encounter_id, the
--     IP-prescribing encounters of Q27) is MERGED into that admission's IPD encounter.
--   * patient_visits: design-era visits: date + time are facility-local (etl.local_wall_clock). A
--     visit whose appointment_id names a live appointment is that appointment's consultation:
--     MERGED into the appointment's encounter (the encounter that legacy encounter became: its own,
--     or the IPD stay it is merged into). When that encounter does not load (not in the snapshot,
--     its patient unknown) the visit is quarantined with it (ORPHAN_FK, column appointment_id) and
--     retried. Other visits are encounters of their own (an appointment_id naming no live
--     appointment, or an appointment without encounter, is counted as a WARN).
--   * bed_allocations: one IPD encounter per inpatient admission (Q33). Allocations are grouped per
--     admission by the rule shared with inpatient.admissions (etl.bed_allocation_admissions: same
--     patient + legacy encounter, else ip_number, else a transfer chain); the earliest by
--     admission_date (then created_at, key) OPENS the admission and gives the encounter its id:
--     etl.canonical_id('clinical.encounters', 'bed_allocations', <opening key>). Transfers (the
--     other allocations of the group) are MERGED into it. start_at = opening admission_date,
--     end_at = discharge_date of the group's last allocation (both IST wall clock, Q28, WARN
--     NAIVE_TIMESTAMP). Every allocation of an admission touched this run is re-emitted (a later
--     transfer moves end_at).
--   * patients / patient_symptoms: records that carry no encounter (the TEXT vitals and complaint on
--     the wide patients row, taken at its admission_date + admission_time, else created_at; a
--     patient_symptoms row at recorded_at, else onset_date) are attached to the patient's encounter
--     in progress at that time: the latest one with start_at <= t and t <= end_at (an encounter
--     without end_at counts as 24 hours long, an open IPD stay as still running). That attachment
--     is recorded as a MERGED row '<key>#inferred' -> that encounter. Without one, an encounter is
--     inferred: LOADED from '<key>#inferred', start_at = end_at = t (a point visit, so it never shows
--     as an open encounter); type: a registration's patients.admission_type mapped by ref.codes
--     'map:patients.admission_type' (outpatient/referred OPD, emergency ER), else NULL. Both count
--     as a WARN (INFERRED_ENCOUNTER); dependent rows
--     (vitals, symptoms) read this mapping.
-- _detail: 'warn' is a row's first warning, 'warns' all of them.
-- A row whose patient is not in core.patients is quarantined (ORPHAN_FK). No free text in _detail.
-- Work (incremental): the changed legacy rows, rows whose patient/doctor mapping changed this run,
-- every allocation of a touched admission and the legacy encounters they name, and the
-- encounter-less records of every patient whose encounters were touched (attached again).
with patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

doctor_ref as materialized (
    select * from etl.doctor_refs(%(run_id)s)
),

encounter_types as (
    select c.id as type_id, c.display as type
    from etl.legacy_codes('encounter_type', 'map:encounter.type') as c
),

appointments as (
    select a.id as appointment_id, a.encounter_id
    from stg.appointment as a
    where not a._deleted
),

-- IP admissions: the grouping rule shared with inpatient.admissions (etl.bed_allocation_admissions,
-- sql/ddl/091_inpatient_helpers.sql); every staged row, deleted ones flagged
allocations as (
    select a.*
    from etl.bed_allocation_admissions() as a
),

live_allocations as (
    select
        a.allocation_key as _key,
        a.admission_key,
        a.seq,
        a.is_last,
        b.patient_id,
        b.doctor_id,
        b.encounter_id,
        b.admission_date,
        b.discharge_date,
        b.created_at
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    where not a.is_deleted
),

admissions as (
    select
        o.admission_key,
        o._key as opening_key,
        etl.canonical_id('clinical.encounters', 'bed_allocations', o._key) as encounter_id,
        pr.patient_id,
        coalesce(etl.local_wall_clock(o.admission_date, %(facility_tz)s), o.created_at) as start_at,
        etl.local_wall_clock(c.discharge_date, %(facility_tz)s) as end_at,
        dr.staff_id as attending_doctor_id,
        o.doctor_id is not null and dr.staff_id is null as doctor_unresolved,
        coalesce(pr.changed, false) or coalesce(dr.changed, false) as ref_changed,
        coalesce(o.created_at, o.admission_date) as created_at
    from live_allocations as o
    join live_allocations as c on c.admission_key = o.admission_key and c.is_last
    left join patient_ref as pr on pr.legacy_key = o.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = o.doctor_id::text
    where o.seq = 1
),

-- the legacy encounter an admission points at is that admission (first admission wins)
admission_encounters as (
    select distinct on (la.encounter_id)
        la.encounter_id as legacy_encounter_id,
        ad.encounter_id
    from live_allocations as la
    join admissions as ad on ad.admission_key = la.admission_key
    where la.encounter_id is not null and ad.patient_id is not null
    order by la.encounter_id, ad.start_at, ad.opening_key
),

legacy_encounters as (
    select
        e._key,
        coalesce(ae.encounter_id, etl.canonical_id('clinical.encounters', 'encounter', e._key)) as encounter_id,
        ae.encounter_id is not null as is_merged,
        pr.patient_id,
        coalesce(et.type, case when e.type_id is null and ap.encounter_id is not null then 'OPD' end) as type,
        case when ap.encounter_id is not null then etl.local_wall_clock(e.start_at, %(facility_tz)s)
             else e.start_at end as start_at,
        case when ap.encounter_id is not null then etl.local_wall_clock(e.end_at, %(facility_tz)s)
             else e.end_at end as end_at,
        dr.staff_id as attending_doctor_id,
        coalesce(e.created_at, e.start_at) as created_at,
        coalesce(pr.changed, false) or coalesce(dr.changed, false) as ref_changed,
        array_remove(array[
            case when e.type_id is not null and et.type_id is null then 'ORPHAN_FK' end,  -- type_id
            case when et.type_id is not null and et.type is null then 'UNMAPPED_VALUE' end,  -- type_id
            case when e.clinician_id is not null and dr.staff_id is null then 'ORPHAN_FK' end,  -- clinician_id
            case when ap.encounter_id is null and e.clinician_id is null and e.department_id is null
                      and e.type_id is null and e.status_id is null then 'PLACEHOLDER_ROW' end,  -- Q27
            case when ap.encounter_id is not null then 'NAIVE_TIMESTAMP' end  -- start_at/end_at
        ], null) as warns
    from stg.encounter as e
    left join encounter_types as et on et.type_id = e.type_id
    left join (select distinct encounter_id from appointments) as ap on ap.encounter_id = e.id
    left join patient_ref as pr on pr.legacy_key = e.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = e.clinician_id::text
    left join admission_encounters as ae on ae.legacy_encounter_id = e.id
    where not e._deleted
),

visits as (
    select
        v._key,
        case when va.encounter_id is not null then le.encounter_id
             else etl.canonical_id('clinical.encounters', 'patient_visits', v._key) end as encounter_id,
        va.encounter_id is not null as is_merged,
        va.encounter_id is not null and le.patient_id is null as merge_target_missing,
        pr.patient_id,
        tm.display as type,
        etl.local_wall_clock(v.visit_date, v.visit_time, %(facility_tz)s) as start_at,
        null::timestamptz as end_at,
        dr.staff_id as attending_doctor_id,
        coalesce(v.created_at, etl.local_wall_clock(v.visit_date, v.visit_time, %(facility_tz)s)) as created_at,
        coalesce(pr.changed, false) or coalesce(dr.changed, false) as ref_changed,
        array_remove(array[
            case when tm.display is null then 'UNMAPPED_VALUE' end,  -- visit_type
            case when v.doctor_id is not null and dr.staff_id is null then 'ORPHAN_FK' end,  -- doctor_id
            case when v.appointment_id is not null and va.encounter_id is null then 'ORPHAN_FK' end  -- appointment_id
        ], null) as warns
    from stg.patient_visits as v
    left join appointments as va on va.appointment_id = v.appointment_id
    left join legacy_encounters as le on le._key = va.encounter_id::text
    left join ref.codes as tm on tm.system = 'map:encounter.type' and tm.code = etl.norm_key(v.visit_type)
    left join patient_ref as pr on pr.legacy_key = v.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = v.doctor_id::text
    where not v._deleted
),

-- the encounters this table loads, for attaching encounter-less records by time
known_encounters as (
    select encounter_id, patient_id, type, start_at, end_at from legacy_encounters where not is_merged
    union all
    select encounter_id, patient_id, type, start_at, end_at from visits where not is_merged
    union all
    select encounter_id, patient_id, 'IPD', start_at, end_at from admissions
),

-- This run's work: the legacy rows to (re)process (changed rows, rows whose patient or doctor
-- mapping changed this run) and the admissions they touch.
touched_admissions as (
    select a.admission_key
    from allocations as a
    join _todo as td on td.legacy_table = 'bed_allocations' and td.key = a.allocation_key
    union
    select ad.admission_key from admissions as ad where ad.ref_changed
),

-- encounters named by an allocation of a touched admission: merged into it, or not any more
named_by_touched as (
    select distinct b.encounter_id::text as encounter_key
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    where a.admission_key in (select admission_key from touched_admissions)
),

-- The work filters are left joins to _todo (unique keys: the engine builds it with UNION) and to
-- de-duplicated sets, never "x or exists (subquery)": an OR keeps a subquery from becoming a join,
-- and a subquery whose hash does not fit in work_mem runs once per row (at 1M patients, a scan
-- of _todo's 3.5M keys for each of 1.1M records: hours).
work_encounters as (
    select e.* from legacy_encounters as e
    left join _todo as td on td.legacy_table = 'encounter' and td.key = e._key
    left join named_by_touched as nt on nt.encounter_key = e._key
    where e.ref_changed or td.key is not null or nt.encounter_key is not null
),

work_visits as (
    select v.* from visits as v
    left join _todo as td on td.legacy_table = 'patient_visits' and td.key = v._key
    where v.ref_changed or td.key is not null
),

-- patients whose encounters may have moved this run (deleted legacy rows included): their
-- encounter-less records are attached again
touched_patients as (
    select pr.patient_id
    from stg.encounter as e
    join _todo as td on td.legacy_table = 'encounter' and td.key = e._key
    join patient_ref as pr on pr.legacy_key = e.patient_id::text
    union
    select pr.patient_id
    from stg.patient_visits as v
    join _todo as td on td.legacy_table = 'patient_visits' and td.key = v._key
    join patient_ref as pr on pr.legacy_key = v.patient_id::text
    union
    select pr.patient_id
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    join patient_ref as pr on pr.legacy_key = b.patient_id::text
    where a.admission_key in (select admission_key from touched_admissions)
    union
    select patient_id from work_encounters
    union
    select patient_id from work_visits
),

-- records without an encounter, with their time t
patient_records as (
    select
        'patients'::text as legacy_table,
        s._key,
        s._key as patient_key,
        tm.display as type,
        coalesce(etl.local_wall_clock(s.admission_date, s.admission_time, %(facility_tz)s), s.created_at) as t
    from stg.patients as s
    left join ref.codes as tm on tm.system = 'map:patients.admission_type' and tm.code = etl.norm_key(s.admission_type)
    where not s._deleted
      and (etl.has_text_vitals(s.height, s.weight, s.bmi, s.temperature, s.bp_systolic, s.bp_diastolic, s.pulse,
                               s.spo2, s.respiratory_rate, s.random_blood_sugar)
           or etl.has_items(s.initial_symptoms, s.primary_complaint))

    union all

    select 'patient_symptoms', ps._key, ps.patient_id::text, null, coalesce(ps.recorded_at, ps.onset_date)
    from stg.patient_symptoms as ps
    where not ps._deleted
      and etl.is_item(ps.symptom_name)
),

-- this run's records: changed ones, and every record of a patient whose encounters were touched
work_records as (
    select r.legacy_table, r._key, pr.patient_id, r.type, r.t
    from patient_records as r
    left join patient_ref as pr on pr.legacy_key = r.patient_key
    left join _todo as td on td.legacy_table = r.legacy_table and td.key = r._key
    left join (select distinct patient_id from touched_patients) as tp on tp.patient_id = pr.patient_id
    where td.key is not null or pr.changed or tp.patient_id is not null
),

-- the encounter in progress at the record's time (the latest started)
matches as (
    select distinct on (w.legacy_table, w._key)
        w.legacy_table,
        w._key,
        k.encounter_id
    from work_records as w
    join known_encounters as k
        on k.patient_id = w.patient_id
       and k.start_at <= w.t
       and w.t <= coalesce(k.end_at, case when k.type = 'IPD' then 'infinity'::timestamptz
                                          else etl.ts_add(k.start_at, interval '24 hours') end)
    order by w.legacy_table, w._key, k.start_at desc, k.encounter_id
),

attached as (
    select w.*, m.encounter_id
    from work_records as w
    left join matches as m on m.legacy_table = w.legacy_table and m._key = w._key
),

final as (
    -- legacy encounters
    select
        e.encounter_id,
        e.patient_id,
        e.type,
        e.start_at,
        e.end_at,
        e.attending_doctor_id,
        etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
        e.created_at,
        'encounter'::text as _legacy_table,
        e._key as _legacy_key,
        case when e.is_merged then 'MERGED' else 'LOADED' end as _disposition,
        case when e.patient_id is null then 'ORPHAN_FK' end as _reason,
        case when e.patient_id is null then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
             when e.warns <> '{}' then jsonb_build_object('warn', e.warns[1], 'warns', e.warns)
        end as _detail
    from work_encounters as e

    union all

    -- design-era visits
    select
        v.encounter_id,
        v.patient_id,
        v.type,
        v.start_at,
        v.end_at,
        v.attending_doctor_id,
        etl.canonical_id('core.facilities', 'settings', 'facility'),
        v.created_at,
        'patient_visits',
        v._key,
        case when v.is_merged then 'MERGED' else 'LOADED' end,
        case when v.patient_id is null or v.merge_target_missing then 'ORPHAN_FK' end,
        case when v.patient_id is null then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
             when v.merge_target_missing
                 then jsonb_build_object('column', 'appointment_id', 'rule', 'encounter of the appointment not loaded')
             when v.warns <> '{}' then jsonb_build_object('warn', v.warns[1], 'warns', v.warns)
        end
    from work_visits as v

    union all

    -- IPD encounters: every live allocation of an admission touched this run
    select
        ad.encounter_id,
        ad.patient_id,
        'IPD',
        ad.start_at,
        ad.end_at,
        ad.attending_doctor_id,
        etl.canonical_id('core.facilities', 'settings', 'facility'),
        ad.created_at,
        'bed_allocations',
        la._key,
        case when la.seq = 1 then 'LOADED' else 'MERGED' end,
        case when ad.patient_id is null then 'ORPHAN_FK' end,
        case when ad.patient_id is null then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
             when la.seq = 1 and ad.doctor_unresolved
                 then jsonb_build_object('warn', 'ORPHAN_FK', 'warns', array['ORPHAN_FK', 'NAIVE_TIMESTAMP'])
             when la.admission_date is not null  -- admission/discharge dates (Q28)
                 then jsonb_build_object('warn', 'NAIVE_TIMESTAMP')
        end
    from live_allocations as la
    join admissions as ad on ad.admission_key = la.admission_key
    where la.admission_key in (select admission_key from touched_admissions)

    union all

    -- records without an encounter: attached to an existing encounter, else an inferred one
    select
        coalesce(a.encounter_id, etl.canonical_id('clinical.encounters', a.legacy_table, a._key || '#inferred')),
        a.patient_id,
        a.type,
        a.t,
        a.t,
        null,
        etl.canonical_id('core.facilities', 'settings', 'facility'),
        a.t,
        a.legacy_table,
        a._key || '#inferred',
        case when a.encounter_id is not null then 'MERGED' else 'LOADED' end,
        case when a.patient_id is null or a.t is null then 'ORPHAN_FK' end,
        case when a.patient_id is null then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
             when a.t is null then jsonb_build_object('column', 'encounter_id', 'rule', 'no time to attach an encounter by')
             else jsonb_build_object('warn', 'INFERRED_ENCOUNTER',
                                     'inferred', case when a.encounter_id is null then 'created' else 'attached' end)
        end
    from attached as a
)

select * from final
