-- compat write path: vitals (the wide legacy row -> one clinical.vitals row per value). Called by
-- compat.dispatch after the dual write and the kept-store update (recorded_by, notes, created_at are
-- kept). Rules of sql/clinical/vitals.sql:
--   * one canonical row per non-NULL value, id etl.canonical_id('clinical.vitals', 'vitals',
--     '<key>#<kind>'), provenance legacy key '<key>#<kind>' LOADED; kinds and units as the transform
--     (temperature in °F when > 45, else °C; the other units fixed per kind).
--   * encounter: encounter_id -> clinical.encounters through provenance (an encounter merged into an
--     IPD stay resolves to the stay); none: raises (rule ORPHAN_FK, column encounter_id).
--     patient_id must be that encounter's patient (through provenance, merges resolved); another
--     patient raises (rule PATIENT_MISMATCH, column patient_id): the canonical row has no patient of
--     its own, so the value would be read back under the encounter's patient.
--   * taken_at = recorded_at, else created_at.
--   * a value outside the transform's plausible range raises (rule OUT_OF_RANGE, column <column>):
--     the transform quarantines that value alone, here the whole written row stays in the archive
--     (quarantined), so the application still sees every value it wrote. A row without any value
--     raises (rule MISSING_VALUE, column id).
--   * a value set to NULL by an UPDATE soft-deletes its canonical row; DELETE soft-deletes them all.
-- Errors name the table, the rule and the column, never a value.
create or replace function compat.apply_vitals(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_enc uuid;
    v_enc_patient uuid;
    v_patient uuid;
    v_taken timestamptz;
    v_bad text;
    v_n integer;
    v_vals jsonb;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat vitals: unknown operation (rule COMPAT_OP, column id)';
    end if;

    if p_op = 'DELETE' then
        update clinical.vitals as v set deleted_at = now(), updated_by = 'compat'
        from ops.legacy_id_map as m
        where m.legacy_table = 'vitals' and m.canonical_table = 'clinical.vitals'
          and m.legacy_key like p_key || '#%' and v.vital_id = m.canonical_id and v.deleted_at is null;
        return;
    end if;

    select e.encounter_id, e.patient_id into v_enc, v_enc_patient
    from ops.legacy_id_map as m
    join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
    where m.legacy_table = 'encounter' and m.legacy_key = p_new ->> 'encounter_id' and m.canonical_table = 'clinical.encounters';
    if v_enc is null then
        raise exception 'compat vitals: no live encounter (rule ORPHAN_FK, column encounter_id)';
    end if;
    if p_new ->> 'patient_id' is not null then
        select p.patient_id into v_patient
        from ops.legacy_id_map as m
        join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
        where m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id' and m.canonical_table = 'core.patients';
        if v_patient is distinct from v_enc_patient then
            raise exception 'compat vitals: patient is not the encounter''s patient (rule PATIENT_MISMATCH, column patient_id)';
        end if;
    end if;

    v_taken := coalesce((p_new ->> 'recorded_at')::timestamptz, (p_new ->> 'created_at')::timestamptz, now());

    -- the row's values, one element per measured kind: kind, col, value, unit, lo, hi
    select coalesce(jsonb_agg(jsonb_build_object('kind', x.kind, 'col', x.col, 'value', x.value,
                                                 'unit', r.unit, 'lo', r.lo, 'hi', r.hi)), '[]'::jsonb)
      into v_vals
    from (
        select c.kind, c.col, etl.try_numeric(p_new ->> c.col) as value, p_new ->> c.col as raw
        from (values
            ('bp_systolic', 'blood_pressure_systolic'),
            ('bp_diastolic', 'blood_pressure_diastolic'),
            ('heart_rate', 'heart_rate'),
            ('temperature', 'temperature'),
            ('respiratory_rate', 'respiratory_rate'),
            ('oxygen_saturation', 'oxygen_saturation'),
            ('weight', 'weight'),
            ('height', 'height'),
            ('pain_scale', 'pain_scale'),
            ('blood_glucose', 'blood_glucose')
        ) as c (kind, col)
    ) as x
    join (values
        ('bp_systolic', 'mmHg', 50.0, 260.0),
        ('bp_diastolic', 'mmHg', 20.0, 160.0),
        ('heart_rate', 'bpm', 20.0, 250.0),
        ('temperature', '°F', 85.0, 110.0),
        ('temperature', '°C', 30.0, 43.0),
        ('respiratory_rate', '/min', 4.0, 60.0),
        ('oxygen_saturation', '%', 50.0, 100.0),
        ('weight', 'kg', 0.5, 300.0),
        ('height', 'cm', 30.0, 250.0),
        ('pain_scale', '0-10', 0.0, 10.0),
        ('blood_glucose', 'mg/dL', 20.0, 800.0)
    ) as r (kind, unit, lo, hi)
        on r.kind = x.kind
       and (x.kind <> 'temperature' or r.unit = case when x.value > 45 then '°F' else '°C' end)
    where x.raw is not null;

    select min(x.col) into v_bad
    from jsonb_to_recordset(v_vals) as x (col text, value numeric)
    where x.value is null;
    if v_bad is not null then
        raise exception 'compat vitals: not a plain number (rule UNPARSEABLE_VALUE, column %)', v_bad;
    end if;
    select min(x.col) into v_bad
    from jsonb_to_recordset(v_vals) as x (col text, value numeric, lo numeric, hi numeric)
    where x.value not between x.lo and x.hi;
    if v_bad is not null then
        raise exception 'compat vitals: outside the plausible range (rule OUT_OF_RANGE, column %)', v_bad;
    end if;
    v_n := jsonb_array_length(v_vals);
    if v_n = 0 then
        raise exception 'compat vitals: row without any measurement (rule MISSING_VALUE, column id)';
    end if;

    insert into clinical.vitals as v (vital_id, encounter_id, taken_at, kind, value, unit, created_at, created_by, updated_by)
    select etl.canonical_id('clinical.vitals', 'vitals', p_key || '#' || x.kind), v_enc, v_taken, x.kind, x.value, x.unit,
           v_taken, 'compat', 'compat'
    from jsonb_to_recordset(v_vals) as x (kind text, col text, value numeric, unit text, lo numeric, hi numeric)
    on conflict (vital_id) do update
        set encounter_id = excluded.encounter_id,
            taken_at = excluded.taken_at,
            kind = excluded.kind,
            value = excluded.value,
            unit = excluded.unit,
            created_at = excluded.created_at,
            updated_by = 'compat',
            deleted_at = null;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    select 'vitals', p_key || '#' || x.kind, 'clinical.vitals',
           etl.canonical_id('clinical.vitals', 'vitals', p_key || '#' || x.kind), 'LOADED', 'compat'
    from jsonb_to_recordset(v_vals) as x (kind text, col text, value numeric, unit text, lo numeric, hi numeric)
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();

    -- values no longer measured
    update clinical.vitals as v set deleted_at = now(), updated_by = 'compat'
    from ops.legacy_id_map as m
    where m.legacy_table = 'vitals' and m.canonical_table = 'clinical.vitals'
      and m.legacy_key like p_key || '#%'
      and split_part(m.legacy_key, '#', 2) not in (select x.kind from jsonb_to_recordset(v_vals) as x (kind text))
      and v.vital_id = m.canonical_id and v.deleted_at is null;
end
$$;
