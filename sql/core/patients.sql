-- core.patients. Grain: one row per patient (a person registered as a patient), keyed by UHID.
-- Source: patients. uhid = legacy patient_id. Duplicate registrations of one person (see
-- core.persons) are MERGED into the surviving registration: one patient, one UHID; the duplicate's
-- UHID stays resolvable through ops.legacy_id_map. The patient id derives from the person id.
with src as (
    select s.*
    from stg.patients as s
    join _todo as t on t.legacy_table = 'patients' and t.key = s._key
    where not s._deleted
),

person_map as materialized (
    select pm.legacy_key, pm.canonical_id as person_id, pm.disposition
    from etl.mapped_ids('core.persons', 'patients') as pm
),

final as (
    select
        etl.canonical_id('core.patients', 'core.persons', pm.person_id::text) as patient_id,
        pm.person_id,
        s.patient_id as uhid,
        s.created_at,
        'patients'::text as _legacy_table,
        s._key as _legacy_key,
        case when pm.disposition = 'LOADED' then 'LOADED' else 'MERGED' end as _disposition,
        case when pm.person_id is null then 'ORPHAN_FK' end as _reason,
        case when pm.person_id is null then jsonb_build_object('rule', 'patient row has no person') end as _detail
    from src as s
    left join person_map as pm on pm.legacy_key = s._key
)

select * from final
