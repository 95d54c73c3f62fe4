-- clinical.symptoms. Grain: one row per symptom noted during an encounter.
-- Sources:
--   * patient_symptoms: one symptom per row (symptom_name, severity). It carries no encounter: the
--     encounter encounters.sql attached or inferred for '<id>#inferred' (by patient and time).
--   * patients: the free text of initial_symptoms and primary_complaint (Q22), split on commas and
--     semicolons into one row per item, legacy key '<patient id>#<column>#<n>' (n = position in the
--     text). Encounter: the one attached or inferred for '<patient id>#inferred'.
--   * patient_visits: the free text of symptoms and current_complaints, split the same way, on the
--     visit's own encounter (or the appointment encounter it was merged into).
-- Items that are empty or say nothing ('none', 'nil', 'na', ... the list is the bound parameter
-- none_items) are not symptoms. Symptoms attached through an inferred link carry the WARN
-- INFERRED_ENCOUNTER. No live encounter: ORPHAN_FK. The text is clinical content kept in
-- description; it never goes to _detail. Work: the changed legacy rows, plus rows whose encounter
-- mapping changed this run.
with none_items as (
    select unnest(%(none_items)s::text[]) as item
),

encounter_map as materialized (
    select m.legacy_table, m.legacy_key, m.disposition, e.encounter_id, e.start_at, m.run_id = %(run_id)s as changed
    from ops.legacy_id_map as m
    join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
    where m.canonical_table = 'clinical.encounters'
),

symptom_rows as (
    select
        'patient_symptoms'::text as legacy_table,
        s._key,
        s._key as legacy_key,
        btrim(s.symptom_name) as description,
        lower(btrim(s.severity)) as severity,
        coalesce(s.recorded_at, s.onset_date) as created_at,
        s._key || '#inferred' as encounter_key
    from stg.patient_symptoms as s
    where not s._deleted
      and lower(btrim(s.symptom_name, E' \t\r\n.')) not in (select item from none_items)
),

patient_items as (
    select
        'patients'::text as legacy_table,
        s._key,
        s._key || '#' || c.col || '#' || i.n as legacy_key,
        btrim(i.item, E' \t\r\n') as description,
        null::text as severity,
        s.created_at,
        s._key || '#inferred' as encounter_key
    from stg.patients as s
    cross join lateral (values
        ('initial_symptoms', s.initial_symptoms),
        ('primary_complaint', s.primary_complaint)
    ) as c (col, txt)
    cross join lateral regexp_split_to_table(c.txt, '[,;]') with ordinality as i (item, n)
    where not s._deleted
      and lower(btrim(i.item, E' \t\r\n.')) not in (select item from none_items)
),

visit_items as (
    select
        'patient_visits'::text as legacy_table,
        v._key,
        v._key || '#' || c.col || '#' || i.n as legacy_key,
        btrim(i.item, E' \t\r\n') as description,
        null::text as severity,
        v.created_at,
        v._key as encounter_key
    from stg.patient_visits as v
    cross join lateral (values
        ('symptoms', v.symptoms),
        ('current_complaints', v.current_complaints)
    ) as c (col, txt)
    cross join lateral regexp_split_to_table(c.txt, '[,;]') with ordinality as i (item, n)
    where not v._deleted
      and lower(btrim(i.item, E' \t\r\n.')) not in (select item from none_items)
),

items as (
    select * from symptom_rows
    union all
    select * from patient_items
    union all
    select * from visit_items
),

final as (
    select
        etl.canonical_id('clinical.symptoms', i.legacy_table, i.legacy_key) as symptom_id,
        em.encounter_id,
        null::text as code,
        i.description,
        i.severity,
        coalesce(i.created_at, em.start_at) as created_at,
        i.legacy_table as _legacy_table,
        i.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        case when em.encounter_id is null then 'ORPHAN_FK' end as _reason,
        case
            when em.encounter_id is null
                then jsonb_build_object('column', 'encounter_id', 'rule', 'no live encounter')
            when i.legacy_table <> 'patient_visits'
                then jsonb_build_object(
                    'warn', 'INFERRED_ENCOUNTER',
                    'encounter', case em.disposition when 'LOADED' then 'created' else 'attached' end)
        end as _detail
    from items as i
    left join encounter_map as em on em.legacy_table = i.legacy_table and em.legacy_key = i.encounter_key
    where em.changed or exists (select 1 from _todo as td where td.legacy_table = i.legacy_table and td.key = i._key)
)

select * from final
