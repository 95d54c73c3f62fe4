-- clinical.medical_history. Grain: one row per medical-history entry of a patient.
-- Sources:
--   * medical_history (ADT/CDSD shape, Decision 7): one entry per row. The canonical table has
--     only code/description/recorded_at: description = condition_name, followed by
--     '(status: ...; severity: ...; diagnosed: YYYY-MM-DD)' when the legacy row has them (a
--     diagnosis date no calendar print can show, after 294276-12-01, is left out rather than fail).
--     recorded_at = created_at (when it was recorded). doctor_name is free text with no canonical
--     column (Q24): not carried; a name that is not a staff member's own spelling (users.name) is
--     a variant counted as a WARN (FREE_TEXT_REF). treatment/notes: not carried (no column).
--   * patients: the free text of medical_history, chronic_conditions and previous_surgeries (Q22),
--     split into items by etl.text_items (an item repeated within one text is one entry), legacy
--     key '<patient id>#<column>#<n>' (n = the item's first position in the text); recorded_at =
--     the patient row's created_at.
-- Items that say nothing ('none', 'nil', 'na', ...: etl.is_none_item) are not entries; the spec's
-- consumption predicates (etl.is_item, etl.has_items) follow the same rule.
-- code: the legacy data has no coded terms (NULL). Patient through provenance; none: ORPHAN_FK.
-- The text is clinical content kept in description; it never goes to _detail. Work: the changed
-- legacy rows, plus rows whose patient mapping changed this run (a registration merged).
with medical_history as (
    select s.*
    from stg.medical_history as s
    where not s._deleted
),

patients as (
    select s.*
    from stg.patients as s
    where not s._deleted
),

-- staff names as the staff's own rows spell them (users.name, e.g. 'Dr. Rajesh Kulkarni')
staff_names as (
    select distinct btrim(u.name) as name
    from stg.users as u
    where not u._deleted and not etl.is_patient_login(u.role)
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

history_rows as (
    select
        'medical_history'::text as legacy_table,
        s._key as legacy_key,
        s.patient_id::text as patient_key,
        etl.with_details(btrim(s.condition_name),
            'status: ' || nullif(btrim(s.status), ''),
            'severity: ' || nullif(btrim(s.severity), ''),
            'diagnosed: ' || case when s.diagnosis_date between date '4713-01-01 BC' and date '294276-12-01'
                                  then to_char(s.diagnosis_date, 'YYYY-MM-DD') end) as description,
        coalesce(s.created_at, s.updated_at) as recorded_at,
        -- IN (a hashed subplan), not a correlated EXISTS that scanned the staff names once per row
        nullif(btrim(s.doctor_name), '') is not null
            and not coalesce(btrim(s.doctor_name) in (select n.name from staff_names as n), false) as doctor_variant
    from medical_history as s
    where etl.is_item(s.condition_name)
),

patient_items as (
    select
        'patients'::text as legacy_table,
        s._key || '#' || c.col || '#' || i.ord as legacy_key,
        s._key as patient_key,
        i.item as description,
        s.created_at as recorded_at,
        false as doctor_variant
    from patients as s
    cross join lateral (values
        ('medical_history', s.medical_history),
        ('chronic_conditions', s.chronic_conditions),
        ('previous_surgeries', s.previous_surgeries)
    ) as c (col, txt)
    cross join lateral etl.text_items(c.txt) as i
),

items as (
    select * from history_rows
    union all
    select * from patient_items
),

final as (
    select
        etl.canonical_id('clinical.medical_history', i.legacy_table, i.legacy_key) as history_id,
        pr.patient_id,
        null::text as code,
        i.description,
        i.recorded_at,
        coalesce(i.recorded_at, now()) as created_at,
        i.legacy_table as _legacy_table,
        i.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        case when pr.patient_id is null then 'ORPHAN_FK' end as _reason,
        case when pr.patient_id is null
                 then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
             when i.doctor_variant then jsonb_build_object('warn', 'FREE_TEXT_REF', 'column', 'doctor_name')
        end as _detail
    from items as i
    left join patient_ref as pr on pr.legacy_key = i.patient_key
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as td on td.legacy_table = i.legacy_table and td.key = split_part(i.legacy_key, '#', 1)
    where pr.changed or td.key is not null
)

select * from final
