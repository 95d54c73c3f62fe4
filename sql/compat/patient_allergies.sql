-- compat view body: patient_allergies (blueprint profile; legacy shape over clinical.allergies).
-- Grain: one row per legacy patient_allergies row LOADED in ops.legacy_id_map (canonical_table
-- clinical.allergies; the '<patient id>#allergies#<n>' items of patients.allergies are not rows of
-- this table) whose canonical allergy is live (deleted_at null).
-- Sources: ops.legacy_id_map (the allergy's provenance; core.patients <- patients to give the
-- patient back as its legacy id), clinical.allergies.
-- Normalisations (the inverse of sql/clinical/allergies.sql):
--   * id: the legacy key.
--   * allergen / reaction / severity: read back from the description
--     'allergen (reaction: r; severity: s)' built by etl.with_details (severity with '_' shown as a
--     space: it reads back with '_', so 'life threatening' is 'life_threatening'); a parse is
--     accepted only when etl.with_details rebuilds the description exactly from it, otherwise the
--     whole description is the allergen and reaction/severity read NULL. Values read back trimmed.
--   * patient_id: the legacy patients id LOADED into the canonical patient (a duplicate
--     registration shows the survivor's id).
--   * recorded_at: canonical created_at (the legacy recorded_at; when it was NULL the load time).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'patient_allergies'
      and m.canonical_table = 'clinical.allergies'
      and m.disposition in ('LOADED', 'MERGED')
),

allergies as (
    select a.*
    from clinical.allergies as a
    where a.deleted_at is null
),

-- candidate parses: reaction and severity, reaction only, severity only
parsed as (
    select
        p.legacy_key,
        a.patient_id,
        a.description,
        a.created_at,
        rs.parts as rs_parts,
        r.parts as r_parts,
        s.parts as s_parts
    from provenance as p
    join allergies as a on a.allergy_id = p.canonical_id
    left join lateral (select regexp_match(a.description, '^(.*) \(reaction: (.*); severity: ([^;()]*)\)$') as parts) as rs on true
    left join lateral (select regexp_match(a.description, '^(.*) \(reaction: (.*)\)$') as parts) as r on true
    left join lateral (select regexp_match(a.description, '^(.*) \(severity: ([^;()]*)\)$') as parts) as s on true
),

-- the first candidate that rebuilds the description exactly
checked as (
    select
        pa.legacy_key,
        pa.patient_id,
        pa.created_at,
        case
            when etl.with_details(pa.rs_parts[1], 'reaction: ' || pa.rs_parts[2], 'severity: ' || pa.rs_parts[3]) = pa.description
                then array[pa.rs_parts[1], pa.rs_parts[2], pa.rs_parts[3]]
            when etl.with_details(pa.r_parts[1], 'reaction: ' || pa.r_parts[2]) = pa.description
                then array[pa.r_parts[1], pa.r_parts[2], null]
            when etl.with_details(pa.s_parts[1], 'severity: ' || pa.s_parts[2]) = pa.description
                then array[pa.s_parts[1], null, pa.s_parts[2]]
            else array[pa.description, null, null]
        end as fields
    from parsed as pa
),

final as (
    select
        c.legacy_key as id,
        pk.legacy_key as patient_id,
        c.fields[1] as allergen,
        c.fields[2] as reaction,
        replace(c.fields[3], ' ', '_') as severity,
        c.created_at as recorded_at
    from checked as c
    left join lateral (
        select m.legacy_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'core.patients' and m.canonical_id = c.patient_id
          and m.legacy_table = 'patients' and m.disposition = 'LOADED'
        order by m.legacy_key
        limit 1
    ) as pk on true
)

select * from final
