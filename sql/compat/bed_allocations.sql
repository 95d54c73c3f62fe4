-- compat view body: bed_allocations (legacy shape over inpatient.bed_allocations, the admission and
-- its IPD encounter).
-- Grain: one row per legacy bed_allocations row LOADED in ops.legacy_id_map (canonical_table
-- inpatient.bed_allocations) whose canonical allocation is live (deleted_at null).
-- Sources: ops.legacy_id_map (the allocation's provenance; inpatient.beds <- beds and
-- core.patients <- patients to give FKs back as legacy ids), inpatient.bed_allocations,
-- inpatient.admissions, clinical.encounters, core.facilities (the facility's zone), ops.legacy_kept
-- (doctor_id, encounter_id, reason_id, staff_id, ip_number, admission_type, reason, status, notes,
-- daily_charges, total_charges, the bed_charges_* workflow columns, registration_type).
-- Normalisations (the inverse of sql/inpatient/bed_allocations.sql):
--   * id: the legacy key.
--   * bed_id: the legacy beds id LOADED into the canonical bed (a duplicate bed row MERGED into it
--     reads as the surviving bed's id); a bed that did not load (WARN ORPHAN_FK) reads NULL.
--   * patient_id: the legacy patients id LOADED into the patient of the admission's IPD encounter
--     (a duplicate registration shows the survivor's id).
--   * admission_date / discharge_date: canonical start_at / end_at hold the true instants of the IST
--     wall clock the legacy stored as UTC (Q28); read back as that wall clock stored as UTC (exact).
--   * created_at: canonical created_at (the legacy value, or admission_date when it was NULL).
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * every other column: the kept legacy value.
-- Not covered: an allocation quarantined from inpatient.bed_allocations (OVERLAPPING_ALLOCATION)
-- whose admission still loaded has provenance (admission, encounter) but no live allocation: it is
-- in neither this body nor the wrapper's archive branch (see REPORT).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'bed_allocations'
      and m.canonical_table = 'inpatient.bed_allocations'
      and m.disposition in ('LOADED', 'MERGED')
),

allocations as (
    select a.*
    from inpatient.bed_allocations as a
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
    where k.legacy_table = 'bed_allocations'
),

final as (
    select
        p.legacy_key as id,
        bk.legacy_key as bed_id,
        pk.legacy_key as patient_id,
        k.attrs ->> 'doctor_id' as doctor_id,
        k.attrs ->> 'encounter_id' as encounter_id,
        k.attrs ->> 'reason_id' as reason_id,
        k.attrs ->> 'staff_id' as staff_id,
        k.attrs ->> 'ip_number' as ip_number,
        case when etl.ts_shiftable(a.start_at)
             then (a.start_at at time zone f.timezone) at time zone 'UTC'
             else a.start_at end as admission_date,
        case when etl.ts_shiftable(a.end_at)
             then (a.end_at at time zone f.timezone) at time zone 'UTC'
             else a.end_at end as discharge_date,
        k.attrs ->> 'admission_type' as admission_type,
        k.attrs ->> 'reason' as reason,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'daily_charges' as daily_charges,
        k.attrs ->> 'total_charges' as total_charges,
        k.attrs ->> 'bed_charges_acknowledged' as bed_charges_acknowledged,
        k.attrs ->> 'bed_charges_acknowledged_by' as bed_charges_acknowledged_by,
        k.attrs ->> 'bed_charges_acknowledged_at' as bed_charges_acknowledged_at,
        k.attrs ->> 'bed_charges_edited' as bed_charges_edited,
        k.attrs ->> 'bed_charges_last_edited_by' as bed_charges_last_edited_by,
        k.attrs ->> 'bed_charges_last_edited_at' as bed_charges_last_edited_at,
        a.created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at,
        k.attrs ->> 'registration_type' as registration_type
    from provenance as p
    join allocations as a on a.allocation_id = p.canonical_id
    cross join facility as f
    left join inpatient.admissions as ad on ad.admission_id = a.admission_id
    left join clinical.encounters as e on e.encounter_id = ad.encounter_id
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'inpatient.beds' and m.canonical_id = a.bed_id
          and m.legacy_table = 'beds'
        order by m.disposition = 'LOADED' desc, m.legacy_key
        limit 1
    ) as bk on true
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.patients' and m.canonical_id = e.patient_id
          and m.legacy_table = 'patients' and m.disposition = 'LOADED'
        order by m.legacy_key
        limit 1
    ) as pk on true
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
