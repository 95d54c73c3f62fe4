-- compat view body: patient_admissions (blueprint profile: discharge-attempt headers, Q34).
-- Grain: one row per legacy patient_admissions row LOADED or MERGED in ops.legacy_id_map
-- (canonical_table inpatient.admissions: sql/inpatient/admissions.sql MERGES each header into the
-- admission of the allocation it names) whose canonical admission is live (deleted_at null).
-- Sources: ops.legacy_id_map (the header's provenance; core.patients <- patients to give the patient
-- back as its legacy id), inpatient.admissions, clinical.encounters, ops.legacy_kept (every column
-- the canonical admission has no place for: bed_allocation_id, admission_date, discharge_date,
-- status, admission_type, the diagnosis/summary texts, room_charges, total_bill_amount, created_at).
-- Normalisations:
--   * id: the legacy key.
--   * patient_id: the legacy patients id LOADED into the patient of the admission's IPD encounter
--     (a duplicate registration shows the survivor's id).
--   * total_stay_days (dropped: a derived counter): computed again as the calendar days between
--     the kept admission_date and discharge_date (UTC dates, as stored); NULL while not discharged.
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'patient_admissions'
      and m.canonical_table = 'inpatient.admissions'
      and m.disposition in ('LOADED', 'MERGED')
),

admissions as (
    select ad.*
    from inpatient.admissions as ad
    where ad.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'patient_admissions'
),

final as (
    select
        p.legacy_key as id,
        pk.legacy_key as patient_id,
        k.attrs ->> 'bed_allocation_id' as bed_allocation_id,
        k.attrs ->> 'admission_date' as admission_date,
        k.attrs ->> 'discharge_date' as discharge_date,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'admission_type' as admission_type,
        k.attrs ->> 'primary_diagnosis' as primary_diagnosis,
        k.attrs ->> 'secondary_diagnosis' as secondary_diagnosis,
        k.attrs ->> 'treatment_summary' as treatment_summary,
        k.attrs ->> 'discharge_notes' as discharge_notes,
        case when isfinite((k.attrs ->> 'discharge_date')::timestamptz)
                  and isfinite((k.attrs ->> 'admission_date')::timestamptz)
             then (((k.attrs ->> 'discharge_date')::timestamptz) at time zone 'UTC')::date
                  - (((k.attrs ->> 'admission_date')::timestamptz) at time zone 'UTC')::date
        end as total_stay_days,
        k.attrs ->> 'room_charges' as room_charges,
        k.attrs ->> 'total_bill_amount' as total_bill_amount,
        k.attrs ->> 'created_at' as created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at
    from provenance as p
    join admissions as ad on ad.admission_id = p.canonical_id
    left join clinical.encounters as e on e.encounter_id = ad.encounter_id
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
