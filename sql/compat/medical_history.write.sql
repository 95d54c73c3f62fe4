-- compat write path: medical_history. Called by compat.dispatch after the dual write and the
-- kept-store update (treatment, notes, doctor_name are kept). Rules of
-- sql/clinical/medical_history.sql:
--   * id: clinical.medical_history etl.canonical_id('clinical.medical_history', 'medical_history',
--     <key>), LOADED.
--   * patient_id -> core.patients through provenance (a duplicate registration resolves to the
--     survivor); none: raises (rule ORPHAN_FK, column patient_id).
--   * description = condition_name trimmed, followed by '(status: ...; severity: ...; diagnosed:
--     YYYY-MM-DD)' (etl.with_details); a condition that says nothing (etl.is_item false: blank,
--     'none', 'nil', ...) is no entry: raises (rule NOT_AN_ITEM, column condition_name), so the row
--     stays in the archive.
--   * recorded_at = created_at, else updated_at; code NULL.
--   * DELETE: soft-deletes the canonical entry.
-- Errors name the table, the rule and the column, never a value.
create or replace function compat.apply_medical_history(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_id uuid := etl.canonical_id('clinical.medical_history', 'medical_history', p_key);
    v_patient uuid;
    v_date date;
    v_recorded timestamptz;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat medical_history: unknown operation (rule COMPAT_OP, column id)';
    end if;
    if p_op = 'DELETE' then
        update clinical.medical_history as h set deleted_at = now(), updated_by = 'compat'
        from ops.legacy_id_map as m
        where m.legacy_table = 'medical_history' and m.legacy_key = p_key
          and m.canonical_table = 'clinical.medical_history'
          and h.history_id = m.canonical_id and h.deleted_at is null;
        return;
    end if;

    select p.patient_id into v_patient
    from ops.legacy_id_map as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
    where m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id' and m.canonical_table = 'core.patients';
    if v_patient is null then
        raise exception 'compat medical_history: patient not in core.patients (rule ORPHAN_FK, column patient_id)';
    end if;
    if not coalesce(etl.is_item(p_new ->> 'condition_name'), false) then
        raise exception 'compat medical_history: no condition (rule NOT_AN_ITEM, column condition_name)';
    end if;
    v_date := (p_new ->> 'diagnosis_date')::date;
    v_recorded := coalesce((p_new ->> 'created_at')::timestamptz, (p_new ->> 'updated_at')::timestamptz);

    insert into clinical.medical_history as h
        (history_id, patient_id, code, description, recorded_at, created_at, created_by, updated_by)
    values (v_id, v_patient, null,
            etl.with_details(btrim(p_new ->> 'condition_name'),
                'status: ' || nullif(btrim(p_new ->> 'status'), ''),
                'severity: ' || nullif(btrim(p_new ->> 'severity'), ''),
                'diagnosed: ' || case when v_date between date '4713-01-01 BC' and date '294276-12-01'
                                      then to_char(v_date, 'YYYY-MM-DD') end),
            v_recorded, coalesce(v_recorded, now()), 'compat', 'compat')
    on conflict (history_id) do update
        set patient_id = excluded.patient_id,
            description = excluded.description,
            recorded_at = excluded.recorded_at,
            created_at = excluded.created_at,
            updated_by = 'compat',
            deleted_at = null;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('medical_history', p_key, 'clinical.medical_history', v_id, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();
end
$$;
