-- clinical.allergies. Grain: one row per recorded allergy of a patient.
-- Sources:
--   * patient_allergies: one allergy per row. The canonical table has no reaction/severity columns:
--     description = allergen, followed by '(reaction: ...; severity: ...)' when the legacy row has
--     them (a life-threatening reaction must not be lost). recorded_at -> created_at.
--   * patients.allergies: free text (drug allergies included, Q22), split on commas and
--     semicolons into one row per item, legacy key '<patient id>#allergies#<n>' (n = position in
--     the text). Items that say nothing ('none', 'nil', 'na', 'NKDA', ... the bound parameter
--     none_items) are not allergies.
-- code, onset_date, status: the legacy data has none (NULL). Patient through provenance (a
-- duplicate registration resolves to the surviving patient); none: ORPHAN_FK. The text is clinical
-- content kept in description; it never goes to _detail. Work: the changed legacy rows, plus rows
-- whose patient mapping changed this run (a registration merged).
with none_items as (
    select unnest(%(none_items)s::text[]) as item
),

patient_ref as materialized (
    select m.legacy_key, p.patient_id, m.run_id = %(run_id)s as changed
    from ops.legacy_id_map as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
    where m.legacy_table = 'patients' and m.canonical_table = 'core.patients'
),

allergy_rows as (
    select
        'patient_allergies'::text as legacy_table,
        s._key as legacy_key,
        s.patient_id::text as patient_key,
        btrim(s.allergen)
        || coalesce(' (' || nullif(concat_ws('; ',
                'reaction: ' || nullif(btrim(s.reaction), ''),
                'severity: ' || replace(nullif(btrim(s.severity), ''), '_', ' ')), '') || ')', '') as description,
        s.recorded_at as created_at
    from stg.patient_allergies as s
    where not s._deleted
      and lower(btrim(s.allergen, E' \t\r\n.')) not in (select item from none_items)
),

patient_items as (
    select
        'patients'::text as legacy_table,
        s._key || '#allergies#' || i.n as legacy_key,
        s._key as patient_key,
        btrim(i.item, E' \t\r\n') as description,
        s.created_at
    from stg.patients as s
    cross join lateral regexp_split_to_table(s.allergies, '[,;]') with ordinality as i (item, n)
    where not s._deleted
      and lower(btrim(i.item, E' \t\r\n.')) not in (select item from none_items)
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
    where pr.changed
       or exists (select 1 from _todo as td where td.legacy_table = i.legacy_table
                                             and td.key = split_part(i.legacy_key, '#', 1))
)

select * from final
