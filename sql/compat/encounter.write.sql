-- compat write path: encounter. Called by compat.dispatch after the dual write and the kept-store
-- update (department_id, type_id, status_id are kept). Rules of sql/clinical/encounters.sql:
--   * id: clinical.encounters etl.canonical_id('clinical.encounters', 'encounter', <key>), LOADED.
--   * patient_id -> core.patients through provenance (a duplicate registration resolves to the
--     survivor); none: raises (rule ORPHAN_FK, column patient_id). clinician_id -> doctors ->
--     core.staff through provenance; unresolved: NULL (the transform's WARN ORPHAN_FK).
--   * type: type_id -> legacy ref_code (encounter_type) -> ref.codes 'map:encounter.type'; an
--     unknown id (placeholder uuids, Q17) loads NULL; a NULL id is OPD when the encounter owns a
--     live appointment (table appointment), else NULL.
--   * start_at / end_at: an encounter owning an appointment holds IST wall clock stored as UTC
--     (Q28): etl.local_wall_clock; other encounters hold true instants. (When the appointment comes
--     later, sql/compat/appointment.write.sql converts the encounter then.)
--   * an encounter a live bed allocation already names (kept bed_allocations.encounter_id) is
--     MERGED into that admission's IPD encounter (nothing written to canonical); an UPDATE of an
--     encounter MERGED into an IPD stay writes nothing either (the stay's values are the admission's).
--   * DELETE: soft-deletes the canonical encounter (a MERGED row's delete only drops its provenance).
-- Errors name the table, the rule and the column, never a value.
-- (repeated from sql/compat/appointment.write.sql, identical, so that this file applies alone)
-- Does a legacy encounter own a live appointment (table appointment), leaving out one key?
create or replace function compat.encounter_has_appointment(p_encounter_key text, p_except_key text)
returns boolean
language sql
stable
as $$
    select exists (
        select 1
        from ops.legacy_kept as k
        join ops.legacy_id_map as m
            on m.legacy_table = 'appointment' and m.legacy_key = k.legacy_key
           and m.canonical_table = 'clinical.appointments'
        join clinical.appointments as a on a.appointment_id = m.canonical_id and a.deleted_at is null
        where k.legacy_table = 'appointment'
          and k.attrs ->> 'encounter_id' = p_encounter_key
          and k.legacy_key is distinct from p_except_key)
$$;

create or replace function compat.apply_encounter(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_tz text;
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_id uuid := etl.canonical_id('clinical.encounters', 'encounter', p_key);
    v_mapped_id uuid;
    v_mapped_disposition text;
    v_patient uuid;
    v_doctor uuid;
    v_owned boolean;
    v_type_id uuid;
    v_type text;
    v_start timestamptz;
    v_end timestamptz;
    v_stay uuid;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat encounter: unknown operation (rule COMPAT_OP, column id)';
    end if;
    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
    select m.canonical_id, m.disposition into v_mapped_id, v_mapped_disposition
    from ops.legacy_id_map as m
    where m.legacy_table = 'encounter' and m.legacy_key = p_key and m.canonical_table = 'clinical.encounters';

    if p_op = 'DELETE' then
        if v_mapped_disposition = 'MERGED' then
            delete from ops.legacy_id_map as m
            where m.legacy_table = 'encounter' and m.legacy_key = p_key and m.canonical_table = 'clinical.encounters';
        elsif v_mapped_id is not null then
            update clinical.encounters set deleted_at = now(), updated_by = 'compat'
            where encounter_id = v_mapped_id and deleted_at is null;
        end if;
        return;
    end if;

    if v_mapped_disposition = 'MERGED' then
        return;  -- merged into an IPD stay: the stay's values come from its admission
    end if;

    select p.patient_id into v_patient
    from ops.legacy_id_map as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
    where m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id' and m.canonical_table = 'core.patients';
    if v_patient is null then
        raise exception 'compat encounter: patient not in core.patients (rule ORPHAN_FK, column patient_id)';
    end if;

    select st.staff_id into v_doctor
    from ops.legacy_id_map as m
    join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
    where m.legacy_table = 'doctors' and m.legacy_key = p_new ->> 'clinician_id' and m.canonical_table = 'core.staff';

    -- an IP admission naming this encounter (first admission by start wins, as in encounters.sql)
    select ad.encounter_id into v_stay
    from ops.legacy_kept as k
    join ops.legacy_id_map as m
        on m.legacy_table = 'bed_allocations' and m.legacy_key = k.legacy_key
       and m.canonical_table = 'inpatient.admissions'
    join inpatient.admissions as ad on ad.admission_id = m.canonical_id and ad.deleted_at is null
    join clinical.encounters as e on e.encounter_id = ad.encounter_id and e.deleted_at is null
    where k.legacy_table = 'bed_allocations' and k.attrs ->> 'encounter_id' = p_key
    order by ad.admit_at, ad.admission_id
    limit 1;
    if v_stay is not null then
        if v_mapped_id is not null and v_mapped_id <> v_stay then
            update clinical.encounters set deleted_at = now(), updated_by = 'compat'
            where encounter_id = v_mapped_id and deleted_at is null;
        end if;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
        values ('encounter', p_key, 'clinical.encounters', v_stay, 'MERGED', 'compat')
        on conflict (legacy_table, legacy_key, canonical_table) do update
            set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
                run_id = excluded.run_id, mapped_at = now();
        return;
    end if;

    v_owned := compat.encounter_has_appointment(p_key, null);
    v_type_id := (p_new ->> 'type_id')::uuid;
    if v_type_id is not null then
        select s.display into v_type
        from ops.legacy_id_map as m
        join ref.codes as c
            on c.system = 'legacy.encounter_type' and etl.canonical_id('ref.codes', c.system, c.code) = m.canonical_id
        left join ref.codes as s on s.system = 'map:encounter.type' and s.code = etl.norm_key(c.code)
        where m.legacy_table = 'ref_code' and m.legacy_key = v_type_id::text and m.canonical_table = 'ref.codes';
    elsif v_owned then
        v_type := 'OPD';
    end if;

    v_start := (p_new ->> 'start_at')::timestamptz;
    v_end := (p_new ->> 'end_at')::timestamptz;
    if v_owned then
        v_start := etl.local_wall_clock(v_start, v_tz);
        v_end := etl.local_wall_clock(v_end, v_tz);
    end if;
    if v_start is null then
        raise exception 'compat encounter: no start time (rule MISSING_VALUE, column start_at)';
    end if;

    insert into clinical.encounters as e
        (encounter_id, patient_id, type, start_at, end_at, attending_doctor_id, facility_id, created_at,
         created_by, updated_by)
    values (v_id, v_patient, v_type, v_start, v_end, v_doctor, v_facility,
            coalesce((p_new ->> 'created_at')::timestamptz, v_start), 'compat', 'compat')
    on conflict (encounter_id) do update
        set patient_id = excluded.patient_id,
            type = excluded.type,
            start_at = excluded.start_at,
            end_at = excluded.end_at,
            attending_doctor_id = excluded.attending_doctor_id,
            facility_id = excluded.facility_id,
            created_at = excluded.created_at,
            updated_by = 'compat',
            deleted_at = null;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('encounter', p_key, 'clinical.encounters', v_id, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();
end
$$;
