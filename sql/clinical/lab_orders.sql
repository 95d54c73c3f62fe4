-- clinical.lab_orders. Grain: one row per legacy lab report (the order it records).
-- Source: lab_reports (the JSONB variant, Decision 6). Its analytes become lab_order_items and
-- lab_results (see those files).
-- ordered_at: sample_collected_date, else created_at (else report_date).
-- encounter: the patient's (core.patients, duplicates merged) live encounter nearest before the
-- order (start_at <= ordered_at; the lab pages create a placeholder encounter at that time, Q27).
-- With none before, the patient's first encounter after it is taken with a WARN
-- (INFERRED_ENCOUNTER). A report whose patient is not loaded, or who has no encounter at all, is
-- quarantined (ORPHAN_FK): an order must reach its patient through its encounter.
-- ordered_by: doctor_id -> doctors -> core.staff; unresolved -> NULL with a WARN (ORPHAN_FK).
with src as (
    select s.*
    from stg.lab_reports as s
    join _todo as t on t.legacy_table = 'lab_reports' and t.key = s._key
    where not s._deleted
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

doctor_ref as materialized (
    select * from etl.doctor_refs(%(run_id)s)
),

resolved as (
    select
        s._key,
        pr.patient_id,
        coalesce(s.sample_collected_date, s.created_at, s.report_date) as ordered_at,
        s.doctor_id,
        dr.staff_id as ordered_by,
        coalesce(s.created_at, s.sample_collected_date) as created_at
    from src as s
    left join patient_ref as pr on pr.legacy_key = s.patient_id::text
    left join doctor_ref as dr on dr.legacy_key = s.doctor_id::text
),

with_encounter as (
    select
        r.*,
        (select e.encounter_id
         from clinical.encounters as e
         where e.patient_id = r.patient_id and e.deleted_at is null and e.start_at <= r.ordered_at
         order by e.start_at desc, e.encounter_id
         limit 1) as encounter_before,
        (select e.encounter_id
         from clinical.encounters as e
         where e.patient_id = r.patient_id and e.deleted_at is null and e.start_at > r.ordered_at
         order by e.start_at, e.encounter_id
         limit 1) as encounter_after
    from resolved as r
),

final as (
    select
        etl.canonical_id('clinical.lab_orders', 'lab_reports', w._key) as order_id,
        coalesce(w.encounter_before, w.encounter_after) as encounter_id,
        w.ordered_by,
        w.ordered_at,
        w.created_at,
        'lab_reports'::text as _legacy_table,
        w._key as _legacy_key,
        'LOADED'::text as _disposition,
        case
            when w.patient_id is null then 'ORPHAN_FK'
            when coalesce(w.encounter_before, w.encounter_after) is null then 'ORPHAN_FK'
            when w.ordered_at is null then 'UNPARSEABLE_VALUE'
        end as _reason,
        case
            when w.patient_id is null
                then jsonb_build_object('column', 'patient_id', 'rule', 'patient not in core.patients')
            when coalesce(w.encounter_before, w.encounter_after) is null
                then jsonb_build_object('column', 'patient_id', 'rule', 'patient has no encounter')
            when w.ordered_at is null
                then jsonb_build_object('column', 'sample_collected_date', 'rule', 'report without any date')
            when w.encounter_before is null
                then jsonb_build_object('warn', 'INFERRED_ENCOUNTER', 'rule', 'first encounter after the order')
            when w.doctor_id is not null and w.ordered_by is null
                then jsonb_build_object('warn', 'ORPHAN_FK', 'column', 'doctor_id')
        end as _detail
    from with_encounter as w
)

select * from final
