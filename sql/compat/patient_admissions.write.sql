-- compat write path: patient_admissions (blueprint profile: discharge-attempt headers, Q34). Called
-- by compat.dispatch after the dual write and the kept-store update (every column but id and
-- patient_id is kept: the header's own values live in the kept store). Rules of
-- sql/inpatient/admissions.sql:
--   * a header is MERGED into the admission of the allocation its bed_allocation_id names (a live
--     allocation, through provenance): provenance (patient_admissions, <key>) -> inpatient.admissions,
--     MERGED; nothing else is written to canonical (the header has no lines).
--   * no bed_allocation_id, or one naming no live allocation: raises (rule ORPHAN_FK, column
--     bed_allocation_id); a patient_id other than the admission's patient (through provenance,
--     merges resolved) raises (rule PATIENT_MISMATCH, column patient_id).
--   * DELETE: drops the header's provenance (the admission belongs to its allocations).
-- Errors name the table, the rule and the column, never a value.
create or replace function compat.apply_patient_admissions(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_adm uuid;
    v_adm_patient uuid;
    v_patient uuid;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat patient_admissions: unknown operation (rule COMPAT_OP, column id)';
    end if;
    if p_op = 'DELETE' then
        delete from ops.legacy_id_map as m
        where m.legacy_table = 'patient_admissions' and m.legacy_key = p_key and m.canonical_table = 'inpatient.admissions';
        return;
    end if;

    select ad.admission_id, e.patient_id into v_adm, v_adm_patient
    from ops.legacy_id_map as m
    join inpatient.bed_allocations as a on a.allocation_id = m.canonical_id and a.deleted_at is null
    join inpatient.admissions as ad on ad.admission_id = a.admission_id and ad.deleted_at is null
    left join clinical.encounters as e on e.encounter_id = ad.encounter_id
    where m.legacy_table = 'bed_allocations' and m.legacy_key = p_new ->> 'bed_allocation_id'
      and m.canonical_table = 'inpatient.bed_allocations';
    if v_adm is null then
        raise exception 'compat patient_admissions: header links to no live bed allocation (rule ORPHAN_FK, column bed_allocation_id)';
    end if;
    select p.patient_id into v_patient
    from ops.legacy_id_map as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
    where m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id' and m.canonical_table = 'core.patients';
    if v_patient is distinct from v_adm_patient then
        raise exception 'compat patient_admissions: patient is not the admission''s patient (rule PATIENT_MISMATCH, column patient_id)';
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('patient_admissions', p_key, 'inpatient.admissions', v_adm, 'MERGED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();
end
$$;
