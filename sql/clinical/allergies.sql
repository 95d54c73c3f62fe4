-- clinical.allergies. Grain: one row per recorded allergy of a patient.
-- Sources:
--   * patient_allergies: one allergy per row. The canonical table has no reaction/severity columns:
--     description = allergen, followed by '(reaction: ...; severity: ...)' when the legacy row has
--     them (a life-threatening reaction must not be lost). recorded_at -> created_at.
--   * patients.allergies: free text (drug allergies included, Q22), split into items by
--     etl.text_items (commas and semicolons; an item repeated within the text is one allergy),
--     legacy key '<patient id>#allergies#<n>' (n = the item's first position in the text).
-- Items that say nothing ('none', 'nil', 'na', 'NKDA', ...: etl.is_none_item) are not allergies;
-- the spec's consumption predicates (etl.is_item, etl.has_items) follow the same rule.
-- code, onset_date, status: the legacy data has none (NULL). Patient through provenance (a
-- duplicate registration resolves to the surviving patient); none: ORPHAN_FK. The text is clinical
-- content kept in description; it never goes to _detail. Work: the changed legacy rows, plus rows
-- whose patient mapping changed this run (a registration merged).
with patient_allergies as (
    select s.*
    from stg.patient_allergies as s
    where not s._deleted
),

patients as (
    select s.*
    from stg.patients as s
    where not s._deleted
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

allergy_rows as (
    select
        'patient_allergies'::text as legacy_table,
        s._key as legacy_key,
        s.patient_id::text as patient_key,
        etl.with_details(btrim(s.allergen),
            'reaction: ' || nullif(btrim(s.reaction), ''),
            'severity: ' || replace(nullif(btrim(s.severity), ''), '_', ' ')) as description,
        s.recorded_at as created_at
    from patient_allergies as s
    where etl.is_item(s.allergen)
),

patient_items as (
    select
        'patients'::text as legacy_table,
        s._key || '#allergies#' || i.ord as legacy_key,
        s._key as patient_key,
        i.item as description,
        s.created_at
    from patients as s
    cross join lateral etl.text_items(s.allergies) as i
),

items as (
    select * from allergy_rows
    union all
    select * from patient_items
),

final as (
    select
        etl.canonical_id('clinical.allergies', i.legacy_table, i.legacy_key) as allergy_id,
        pr.patient_id,
        null::text as code,
        i.description,
        null::date as onset_date,
        null::text as status,
        coalesce(i.created_at, now()) as created_at,
        i.legacy_table as _legacy_table,
        i.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        case when pr.patient_id is null then 'ORPHAN_FK' end as _reason,
        case when pr.patient_id is null
            then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients') end as _detail
    from items as i
    left join patient_ref as pr on pr.legacy_key = i.patient_key
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as td on td.legacy_table = i.legacy_table and td.key = split_part(i.legacy_key, '#', 1)
    where pr.changed or td.key is not null
)

select * from final
