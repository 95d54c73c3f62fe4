-- compat view body: prescriptions. Grain: one row per legacy prescriptions row LOADED into a live
-- pharmacy.prescriptions row (ops.legacy_id_map; never merged).
-- Sources: pharmacy.prescriptions, clinical.encounters (the patient), ops.legacy_id_map (canonical
-- ids back to legacy ids), ops.legacy_kept (kept columns).
-- Values:
--   id                 the legacy key;
--   prescription_id    rx_number (pharmacy.clean_text: blanks collapsed, trimmed);
--   patient_id         the encounter's patient back to its legacy patients id (LOADED: a MERGED
--                      duplicate patient shows its survivor's id);
--   doctor_id          prescribed_by back to the legacy doctors id merged into that staff member;
--   encounter_id       the encounter back to its legacy encounter id (LOADED, else MERGED, first
--                      by key);
--   instructions, diagnosis, notes: as stored (pharmacy.clean_text);
--   created_at         pharmacy.prescriptions.created_at;
--   issue_date, appointment_id, status (as written: the canonical status folds several spellings),
--   has_lab_tests, updated_at: from the kept store.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'prescriptions'
      and m.canonical_table = 'pharmacy.prescriptions'
      and m.disposition in ('LOADED', 'MERGED')
),

prescriptions as (
    select p.*
    from pharmacy.prescriptions as p
    where p.deleted_at is null
),

encounters as (
    select e.encounter_id, e.patient_id
    from clinical.encounters as e
),

patient_keys as (
    select distinct on (m.canonical_id) m.canonical_id as patient_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'patients' and m.canonical_table = 'core.patients' and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_key
),

doctor_keys as (
    select distinct on (m.canonical_id) m.canonical_id as staff_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'doctors' and m.canonical_table = 'core.staff' and m.disposition in ('LOADED', 'MERGED')
    order by m.canonical_id, m.disposition <> 'LOADED', m.legacy_key
),

encounter_keys as (
    select distinct on (m.canonical_id) m.canonical_id as encounter_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'encounter' and m.canonical_table = 'clinical.encounters'
      and m.disposition in ('LOADED', 'MERGED')
    order by m.canonical_id, m.disposition <> 'LOADED', m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'prescriptions'
),

final as (
    select
        pv.legacy_key::uuid as id,
        p.rx_number as prescription_id,
        pk.legacy_key as patient_id,
        dk.legacy_key as doctor_id,
        ek.legacy_key as encounter_id,
        k.attrs ->> 'appointment_id' as appointment_id,
        k.attrs ->> 'issue_date' as issue_date,
        p.instructions,
        p.diagnosis,
        p.notes,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'has_lab_tests' as has_lab_tests,
        p.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as pv
    join prescriptions as p on p.rx_id = pv.canonical_id
    left join encounters as e on e.encounter_id = p.encounter_id
    left join patient_keys as pk on pk.patient_id = e.patient_id
    left join doctor_keys as dk on dk.staff_id = p.prescribed_by
    left join encounter_keys as ek on ek.encounter_id = p.encounter_id
    left join kept as k on k.legacy_key = pv.legacy_key
)

select * from final
