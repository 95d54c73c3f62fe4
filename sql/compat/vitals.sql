-- compat view body: vitals (the wide legacy row over clinical.vitals, one canonical row per value).
-- Grain: one row per legacy vitals row with at least one value LOADED in ops.legacy_id_map
-- (canonical_table clinical.vitals, legacy key '<id>#<kind>', sql/clinical/vitals.sql) whose
-- canonical vital is live (deleted_at null); the values of one row are pivoted back by kind.
-- Sources: ops.legacy_id_map (the values' provenance; clinical.encounters <- encounter and
-- core.patients <- patients to give FKs back as legacy ids), clinical.vitals, clinical.encounters,
-- ops.legacy_kept (recorded_by, notes, created_at).
-- Normalisations:
--   * id: the legacy key (the part before '#').
--   * a value quarantined by the transform (UNPARSEABLE_VALUE, OUT_OF_RANGE, ORPHAN_FK) reads NULL
--     here while the row's other values load; values are numeric as loaded (units unchanged: the
--     wide table's temperature is stored as it was, its unit only inferred).
--   * encounter_id: the legacy encounter id of the canonical encounter (the legacy encounter LOADED
--     into it, else the one MERGED into it, lowest key first: a legacy encounter merged into an IPD
--     stay answers for the stay).
--   * patient_id: the legacy patients id LOADED into the patient of that encounter (the legacy row
--     repeats its encounter's patient; a duplicate registration shows the survivor's id).
--   * recorded_at: canonical taken_at (the legacy recorded_at, or created_at when it was NULL).
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * recorded_by, notes, created_at: the kept legacy values.
with provenance as (
    select split_part(m.legacy_key, '#', 1) as legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'vitals'
      and m.canonical_table = 'clinical.vitals'
      and m.disposition in ('LOADED', 'MERGED')
),

vitals as (
    select v.*
    from clinical.vitals as v
    where v.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'vitals'
),

pivoted as (
    select
        p.legacy_key,
        (array_agg(v.encounter_id order by v.kind))[1] as encounter_id,
        min(v.taken_at) as taken_at,
        max(v.value) filter (where v.kind = 'bp_systolic') as blood_pressure_systolic,
        max(v.value) filter (where v.kind = 'bp_diastolic') as blood_pressure_diastolic,
        max(v.value) filter (where v.kind = 'heart_rate') as heart_rate,
        max(v.value) filter (where v.kind = 'temperature') as temperature,
        max(v.value) filter (where v.kind = 'respiratory_rate') as respiratory_rate,
        max(v.value) filter (where v.kind = 'oxygen_saturation') as oxygen_saturation,
        max(v.value) filter (where v.kind = 'weight') as weight,
        max(v.value) filter (where v.kind = 'height') as height,
        max(v.value) filter (where v.kind = 'pain_scale') as pain_scale,
        max(v.value) filter (where v.kind = 'blood_glucose') as blood_glucose
    from provenance as p
    join vitals as v on v.vital_id = p.canonical_id
    group by p.legacy_key
),

final as (
    select
        pv.legacy_key as id,
        pk.legacy_key as patient_id,
        ek.legacy_key as encounter_id,
        k.attrs ->> 'recorded_by' as recorded_by,
        pv.blood_pressure_systolic,
        pv.blood_pressure_diastolic,
        pv.heart_rate,
        pv.temperature,
        pv.respiratory_rate,
        pv.oxygen_saturation,
        pv.weight,
        pv.height,
        pv.pain_scale,
        pv.blood_glucose,
        k.attrs ->> 'notes' as notes,
        pv.taken_at as recorded_at,
        k.attrs ->> 'created_at' as created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at
    from pivoted as pv
    left join clinical.encounters as e on e.encounter_id = pv.encounter_id
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'clinical.encounters' and m.canonical_id = pv.encounter_id
          and m.legacy_table = 'encounter'
        order by m.disposition = 'LOADED' desc, m.legacy_key
        limit 1
    ) as ek on true
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.patients' and m.canonical_id = e.patient_id
          and m.legacy_table = 'patients' and m.disposition = 'LOADED'
        order by m.legacy_key
        limit 1
    ) as pk on true
    left join kept as k on k.legacy_key = pv.legacy_key
)

select * from final
