-- clinical.symptoms. Grain: one row per symptom noted during an encounter.
-- Sources:
--   * patient_symptoms: one symptom per row (symptom_name, severity). It carries no encounter: the
--     encounter encounters.sql attached or inferred for '<id>#inferred' (by patient and time).
--   * patients: the free text of initial_symptoms and primary_complaint (Q22), split into items by
--     etl.text_items (an item repeated within one text is one symptom), legacy key
--     '<patient id>#<column>#<n>' (n = the item's first position in the text). Encounter: the one
--     attached or inferred for '<patient id>#inferred'.
--   * patient_visits: the free text of symptoms and current_complaints, split the same way, on the
--     visit's own encounter (or the appointment encounter it was merged into).
-- Items that are empty or say nothing ('none', 'nil', 'na', ...: etl.is_none_item) are not
-- symptoms; the spec's consumption predicates (etl.is_item, etl.has_items) follow the same rule.
-- Symptoms attached through an inferred link carry the WARN INFERRED_ENCOUNTER. No live
-- encounter: ORPHAN_FK. The text is clinical content kept in description; it never goes to
-- _detail. Work: the changed legacy rows, plus rows whose encounter mapping changed this run.
with patient_symptoms as (
    select s.*
    from stg.patient_symptoms as s
    where not s._deleted
),

patients as (
    select s.*
    from stg.patients as s
    where not s._deleted
),

patient_visits as (
    select v.*
    from stg.patient_visits as v
    where not v._deleted
),

encounter_map as materialized (
    select * from etl.encounter_refs(%(run_id)s)
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
    from patient_symptoms as s
    where etl.is_item(s.symptom_name)
),

-- the free-text lists of patients and visits, one row per (row, column)
texts as (
    select 'patients'::text as legacy_table, s._key, c.col, c.txt, s.created_at, s._key || '#inferred' as encounter_key
    from patients as s
    cross join lateral (values
        ('initial_symptoms', s.initial_symptoms),
        ('primary_complaint', s.primary_complaint)
    ) as c (col, txt)

    union all

    select 'patient_visits', v._key, c.col, c.txt, v.created_at, v._key
    from patient_visits as v
    cross join lateral (values
        ('symptoms', v.symptoms),
        ('current_complaints', v.current_complaints)
    ) as c (col, txt)
),

free_text_items as (
    select
        t.legacy_table,
        t._key,
        t._key || '#' || t.col || '#' || i.ord as legacy_key,
        i.item as description,
        null::text as severity,
        t.created_at,
        t.encounter_key
    from texts as t
    cross join lateral etl.text_items(t.txt) as i
),

items as (
    select * from symptom_rows
    union all
    select * from free_text_items
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
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as td on td.legacy_table = i.legacy_table and td.key = i._key
    where em.changed or td.key is not null
)

select * from final
