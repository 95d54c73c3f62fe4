-- compat view body: medical_history (legacy shape over clinical.medical_history).
-- Grain: one row per legacy medical_history row LOADED in ops.legacy_id_map (canonical_table
-- clinical.medical_history; the '<patient id>#<column>#<n>' items of patients are not rows of this
-- table) whose canonical entry is live (deleted_at null).
-- Sources: ops.legacy_id_map (the entry's provenance; core.patients <- patients to give the patient
-- back as its legacy id), clinical.medical_history, ops.legacy_kept (treatment, notes, doctor_name).
-- Normalisations (the inverse of sql/clinical/medical_history.sql):
--   * id: the legacy key.
--   * condition_name / status / severity / diagnosis_date: read back from the description
--     'condition (status: s; severity: v; diagnosed: YYYY-MM-DD)' built by etl.with_details; the
--     parse is accepted only when etl.with_details rebuilds the description exactly from it,
--     otherwise the whole description is the condition and the other three read NULL. The values
--     read back trimmed (the transform trims them); a diagnosis date beyond 294276-12-01 (left out
--     by the transform) reads NULL.
--   * patient_id: the legacy patients id LOADED into the canonical patient (a duplicate
--     registration shows the survivor's id).
--   * created_at: canonical recorded_at (the legacy created_at, or updated_at when it was NULL).
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * treatment, notes, doctor_name: the kept legacy values.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'medical_history'
      and m.canonical_table = 'clinical.medical_history'
      and m.disposition in ('LOADED', 'MERGED')
),

history as (
    select h.*
    from clinical.medical_history as h
    where h.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'medical_history'
),

-- the description split into its labelled details (candidate parse)
parsed as (
    select
        p.legacy_key,
        h.patient_id,
        h.description,
        h.recorded_at,
        x.parts[1] as condition_name,
        substr(x.parts[2], length('status: ') + 1) as status,
        substr(x.parts[3], length('severity: ') + 1) as severity,
        substr(x.parts[4], length('diagnosed: ') + 1) as diagnosed
    from provenance as p
    join history as h on h.history_id = p.canonical_id
    left join lateral (
        select regexp_match(h.description,
            '^(.*) \((status: [^;()]*)?(?:; )?(severity: [^;()]*)?(?:; )?(diagnosed: [0-9]{4}-[0-9]{2}-[0-9]{2})?\)$') as parts
    ) as x on true
),

-- a parse is kept only when it rebuilds the description exactly
checked as (
    select
        pa.*,
        pa.condition_name is not null
            and num_nonnulls(pa.status, pa.severity, pa.diagnosed) > 0
            and etl.with_details(pa.condition_name, 'status: ' || pa.status, 'severity: ' || pa.severity,
                                 'diagnosed: ' || pa.diagnosed) = pa.description as parsed_ok
    from parsed as pa
),

final as (
    select
        c.legacy_key as id,
        pk.legacy_key as patient_id,
        case when c.parsed_ok then c.condition_name else c.description end as condition_name,
        case when c.parsed_ok then c.diagnosed end as diagnosis_date,
        case when c.parsed_ok then c.status end as status,
        case when c.parsed_ok then c.severity end as severity,
        k.attrs ->> 'treatment' as treatment,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'doctor_name' as doctor_name,
        c.recorded_at as created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at
    from checked as c
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.patients' and m.canonical_id = c.patient_id
          and m.legacy_table = 'patients' and m.disposition = 'LOADED'
        order by m.legacy_key
        limit 1
    ) as pk on true
    left join kept as k on k.legacy_key = c.legacy_key
)

select * from final
