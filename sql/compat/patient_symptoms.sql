-- compat view body: patient_symptoms (blueprint profile; legacy shape over clinical.symptoms).
-- Grain: one row per legacy patient_symptoms row LOADED in ops.legacy_id_map (canonical_table
-- clinical.symptoms; the '<id>#inferred' encounter attachments are provenance of
-- clinical.encounters, not rows of this table) whose canonical symptom is live (deleted_at null).
-- Sources: ops.legacy_id_map (the symptom's provenance; core.patients <- patients to give the
-- patient back as its legacy id), clinical.symptoms, clinical.encounters (the symptom's encounter
-- gives its patient), ops.legacy_kept (onset_date).
-- Normalisations (the inverse of sql/clinical/symptoms.sql):
--   * id: the legacy key.
--   * symptom_name: the canonical description (trimmed); severity: the canonical severity
--     (trimmed, lower case).
--   * patient_id: the legacy patients id LOADED into the patient of the encounter the symptom was
--     attached to or inferred for (by patient and time: the same patient; a duplicate registration
--     shows the survivor's id).
--   * recorded_at: canonical created_at (the legacy recorded_at; when it was NULL, onset_date, else
--     the encounter's start).
--   * onset_date: the kept legacy value.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'patient_symptoms'
      and m.canonical_table = 'clinical.symptoms'
      and m.disposition in ('LOADED', 'MERGED')
),

symptoms as (
    select s.*
    from clinical.symptoms as s
    where s.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'patient_symptoms'
),

final as (
    select
        p.legacy_key as id,
        pk.legacy_key as patient_id,
        s.description as symptom_name,
        s.severity,
        k.attrs ->> 'onset_date' as onset_date,
        s.created_at as recorded_at
    from provenance as p
    join symptoms as s on s.symptom_id = p.canonical_id
    left join clinical.encounters as e on e.encounter_id = s.encounter_id
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
