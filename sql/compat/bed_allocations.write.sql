-- compat write path: bed_allocations (allocate, transfer, release a bed). Called by compat.dispatch
-- after the dual write and the kept-store update (status, reason, ip_number, encounter_id,
-- doctor_id, charges ... are kept: the kept store already holds the written values). Rules of
-- sql/inpatient/bed_allocations.sql, sql/inpatient/admissions.sql and the IPD part of
-- sql/clinical/encounters.sql (grouping: etl.bed_allocation_admissions):
--   * the allocation: inpatient.bed_allocations etl.canonical_id('inpatient.bed_allocations',
--     'bed_allocations', <key>), LOADED; start_at / end_at = admission_date / discharge_date, IST
--     wall clock stored as UTC (Q28) -> etl.local_wall_clock; bed through provenance (a bed that
--     did not load: NULL, the transform's WARN ORPHAN_FK).
--   * patient_id -> core.patients through provenance; none: raises (rule ORPHAN_FK, column
--     patient_id: the transform quarantines the admission). doctor_id -> doctors -> core.staff.
--   * the admission: a new row joins the admission of another live allocation by the grouping rule
--     (same patient and legacy encounter; else, without both, the same trimmed ip_number; else the
--     'transferred' allocation of the same patient whose discharge is within an hour of this start),
--     as MERGED (admission and IPD encounter); else it OPENS an admission: inpatient.admissions and
--     its IPD clinical.encounters row, ids etl.canonical_id(<table>, 'bed_allocations', <key>),
--     LOADED. An UPDATE keeps the row's admission.
--   * after each write the admission is derived again from its live allocations: admit_at = the
--     opening (earliest) allocation's start, discharge_at = the last allocation's end, reason = the
--     earliest allocation still 'active' (kept status and reason), the IPD encounter's start/end and
--     attending doctor (the opening allocation's doctor_id). An admission left without allocations
--     is soft-deleted with its encounter.
--   * the legacy encounter the row names (kept encounter_id), when it is an encounter of its own, is
--     MERGED into the admission's IPD encounter (encounters.sql: IP-prescribing encounters): its
--     dependants (every FK to clinical.encounters) and provenance move to the stay, the old row is
--     soft-deleted.
--   * one live allocation per bed at a time: a row whose [start, end) overlaps another live
--     allocation of the same bed raises (rule OVERLAPPING_ALLOCATION, column bed_id).
--   * DELETE: soft-deletes the allocation, then derives its admission again.
-- Not done here: the stay's bed charges (billing.charges from total_charges, sql/billing/charges.sql)
-- and reassigning the admission's ids when a row earlier than its opening row is added.
-- Errors name the table, the rule and the column, never a value.

-- Derive one admission (and its IPD encounter) again from its live allocations.
create or replace function compat.bed_admission_refresh(p_admission uuid)
returns void
language plpgsql
as $$
declare
    v_open record;
    v_last record;
    v_reason text;
    v_doctor uuid;
    v_enc uuid;
begin
    if p_admission is null then
        return;
    end if;
    select ad.encounter_id into v_enc from inpatient.admissions as ad where ad.admission_id = p_admission;

    select a.start_at, a.created_at, m.legacy_key, k.attrs into v_open
    from inpatient.bed_allocations as a
    join ops.legacy_id_map as m
        on m.canonical_table = 'inpatient.bed_allocations' and m.legacy_table = 'bed_allocations'
       and m.canonical_id = a.allocation_id
    left join ops.legacy_kept as k on k.legacy_table = 'bed_allocations' and k.legacy_key = m.legacy_key
    where a.admission_id = p_admission and a.deleted_at is null
    order by a.start_at nulls last, a.created_at nulls last, m.legacy_key
    limit 1;

    if v_open.legacy_key is null then
        update inpatient.admissions set deleted_at = now(), updated_by = 'compat'
        where admission_id = p_admission and deleted_at is null;
        update clinical.encounters set deleted_at = now(), updated_by = 'compat'
        where encounter_id = v_enc and deleted_at is null;
        return;
    end if;

    select a.end_at into v_last
    from inpatient.bed_allocations as a
    join ops.legacy_id_map as m
        on m.canonical_table = 'inpatient.bed_allocations' and m.legacy_table = 'bed_allocations'
       and m.canonical_id = a.allocation_id
    where a.admission_id = p_admission and a.deleted_at is null
    order by a.start_at desc nulls first, a.created_at desc nulls first, m.legacy_key desc
    limit 1;

    select nullif(btrim(k.attrs ->> 'reason'), '') into v_reason
    from inpatient.bed_allocations as a
    join ops.legacy_id_map as m
        on m.canonical_table = 'inpatient.bed_allocations' and m.legacy_table = 'bed_allocations'
       and m.canonical_id = a.allocation_id
    join ops.legacy_kept as k on k.legacy_table = 'bed_allocations' and k.legacy_key = m.legacy_key
    where a.admission_id = p_admission and a.deleted_at is null
      and etl.norm_key(k.attrs ->> 'status') = 'active'
    order by a.start_at nulls last, a.created_at nulls last, m.legacy_key
    limit 1;

    select st.staff_id into v_doctor
    from ops.legacy_id_map as m
    join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
    where m.legacy_table = 'doctors' and m.legacy_key = v_open.attrs ->> 'doctor_id' and m.canonical_table = 'core.staff';

    update inpatient.admissions
       set admit_at = coalesce(v_open.start_at, v_open.created_at),
           discharge_at = v_last.end_at,
           reason = v_reason,
           updated_by = 'compat',
           deleted_at = null
     where admission_id = p_admission;
    update clinical.encounters
       set start_at = coalesce(v_open.start_at, v_open.created_at, start_at),
           end_at = v_last.end_at,
           attending_doctor_id = v_doctor,
           updated_by = 'compat',
           deleted_at = null
     where encounter_id = v_enc;
end
$$;

-- Merge a legacy encounter of its own into an IPD stay's encounter (first admission wins: an
-- encounter already merged elsewhere stays there).
create or replace function compat.merge_encounter_into_stay(p_encounter_key text, p_stay uuid)
returns void
language plpgsql
as $$
declare
    v_old uuid;
    r record;
begin
    if p_encounter_key is null or p_stay is null then
        return;
    end if;
    select m.canonical_id into v_old
    from ops.legacy_id_map as m
    join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
    where m.legacy_table = 'encounter' and m.legacy_key = p_encounter_key
      and m.canonical_table = 'clinical.encounters' and m.disposition = 'LOADED';
    if v_old is null or v_old = p_stay then
        return;
    end if;
    for r in
        select c.conrelid::regclass as rel, a.attname
        from pg_constraint as c
        join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.contype = 'f' and c.confrelid = 'clinical.encounters'::regclass
          and c.conrelid <> 'inpatient.admissions'::regclass and cardinality(c.conkey) = 1
    loop
        execute format('update %s set %I = $1 where %I = $2', r.rel, r.attname, r.attname) using p_stay, v_old;
    end loop;
    update ops.legacy_id_map
       set canonical_id = p_stay, disposition = 'MERGED', run_id = 'compat', mapped_at = now()
     where canonical_table = 'clinical.encounters' and canonical_id = v_old;
    update clinical.encounters set deleted_at = now(), updated_by = 'compat'
    where encounter_id = v_old;
end
$$;

create or replace function compat.apply_bed_allocations(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_tz text;
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_alloc uuid;
    v_adm uuid;
    v_enc uuid;
    v_opening boolean := false;
    v_patient uuid;
    v_doctor uuid;
    v_bed uuid;
    v_start timestamptz;
    v_end timestamptz;
    v_enc_key text := p_new ->> 'encounter_id';
    v_ip text := nullif(btrim(p_new ->> 'ip_number'), '');
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat bed_allocations: unknown operation (rule COMPAT_OP, column id)';
    end if;
    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
    select m.canonical_id into v_alloc
    from ops.legacy_id_map as m
    where m.legacy_table = 'bed_allocations' and m.legacy_key = p_key and m.canonical_table = 'inpatient.bed_allocations';
    select a.admission_id into v_adm
    from inpatient.bed_allocations as a
    join inpatient.admissions as ad on ad.admission_id = a.admission_id and ad.deleted_at is null
    where a.allocation_id = v_alloc;

    if p_op = 'DELETE' then
        if v_alloc is not null then
            update inpatient.bed_allocations set deleted_at = now(), updated_by = 'compat'
            where allocation_id = v_alloc and deleted_at is null;
            perform compat.bed_admission_refresh(v_adm);
        end if;
        return;
    end if;

    select p.patient_id into v_patient
    from ops.legacy_id_map as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
    where m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id' and m.canonical_table = 'core.patients';
    if v_patient is null then
        raise exception 'compat bed_allocations: patient not in core.patients (rule ORPHAN_FK, column patient_id)';
    end if;
    select st.staff_id into v_doctor
    from ops.legacy_id_map as m
    join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
    where m.legacy_table = 'doctors' and m.legacy_key = p_new ->> 'doctor_id' and m.canonical_table = 'core.staff';
    select b.bed_id into v_bed
    from ops.legacy_id_map as m
    join inpatient.beds as b on b.bed_id = m.canonical_id and b.deleted_at is null
    where m.legacy_table = 'beds' and m.legacy_key = p_new ->> 'bed_id' and m.canonical_table = 'inpatient.beds';
    v_start := etl.local_wall_clock((p_new ->> 'admission_date')::timestamptz, v_tz);
    v_end := etl.local_wall_clock((p_new ->> 'discharge_date')::timestamptz, v_tz);

    if v_alloc is null then
        v_alloc := etl.canonical_id('inpatient.bed_allocations', 'bed_allocations', p_key);
    end if;

    if v_adm is null then
        -- the admission this row continues (etl.bed_allocation_admissions' rules 1-3)
        if v_enc_key is not null then
            select a.admission_id into v_adm
            from ops.legacy_kept as k
            join ops.legacy_id_map as m
                on m.legacy_table = 'bed_allocations' and m.legacy_key = k.legacy_key
               and m.canonical_table = 'inpatient.bed_allocations'
            join inpatient.bed_allocations as a on a.allocation_id = m.canonical_id and a.deleted_at is null
            join inpatient.admissions as ad on ad.admission_id = a.admission_id and ad.deleted_at is null
            join clinical.encounters as e on e.encounter_id = ad.encounter_id
            where k.legacy_table = 'bed_allocations' and k.legacy_key <> p_key
              and k.attrs ->> 'encounter_id' = v_enc_key and e.patient_id = v_patient
            order by a.start_at nulls last, a.created_at, m.legacy_key
            limit 1;
        elsif v_ip is not null then
            select a.admission_id into v_adm
            from ops.legacy_kept as k
            join ops.legacy_id_map as m
                on m.legacy_table = 'bed_allocations' and m.legacy_key = k.legacy_key
               and m.canonical_table = 'inpatient.bed_allocations'
            join inpatient.bed_allocations as a on a.allocation_id = m.canonical_id and a.deleted_at is null
            join inpatient.admissions as ad on ad.admission_id = a.admission_id and ad.deleted_at is null
            where k.legacy_table = 'bed_allocations' and k.legacy_key <> p_key
              and k.attrs ->> 'encounter_id' is null and btrim(k.attrs ->> 'ip_number') = v_ip
            order by a.start_at nulls last, a.created_at, m.legacy_key
            limit 1;
        elsif etl.ts_shiftable(v_start) then
            select a.admission_id into v_adm
            from ops.legacy_kept as k
            join ops.legacy_id_map as m
                on m.legacy_table = 'bed_allocations' and m.legacy_key = k.legacy_key
               and m.canonical_table = 'inpatient.bed_allocations'
            join inpatient.bed_allocations as a on a.allocation_id = m.canonical_id and a.deleted_at is null
            join inpatient.admissions as ad on ad.admission_id = a.admission_id and ad.deleted_at is null
            join clinical.encounters as e on e.encounter_id = ad.encounter_id
            where k.legacy_table = 'bed_allocations' and k.legacy_key <> p_key
              and etl.norm_key(k.attrs ->> 'status') = 'transferred' and e.patient_id = v_patient
              and isfinite(a.end_at)
              and v_start between a.end_at - interval '1 hour' and a.end_at + interval '1 hour'
            order by abs(extract(epoch from v_start - a.end_at)), m.legacy_key
            limit 1;
        end if;

        if v_adm is null then
            v_opening := true;
            v_adm := etl.canonical_id('inpatient.admissions', 'bed_allocations', p_key);
            v_enc := etl.canonical_id('clinical.encounters', 'bed_allocations', p_key);
            insert into clinical.encounters as e
                (encounter_id, patient_id, type, start_at, end_at, attending_doctor_id, facility_id, created_at,
                 created_by, updated_by)
            values (v_enc, v_patient, 'IPD',
                    coalesce(v_start, (p_new ->> 'created_at')::timestamptz, now()), v_end, v_doctor, v_facility,
                    coalesce((p_new ->> 'created_at')::timestamptz, v_start, now()), 'compat', 'compat')
            on conflict (encounter_id) do update
                set patient_id = excluded.patient_id, type = excluded.type, start_at = excluded.start_at,
                    end_at = excluded.end_at, attending_doctor_id = excluded.attending_doctor_id,
                    facility_id = excluded.facility_id, updated_by = 'compat', deleted_at = null;
            insert into inpatient.admissions as ad
                (admission_id, encounter_id, admit_at, discharge_at, reason, facility_id, created_at, created_by, updated_by)
            values (v_adm, v_enc, coalesce(v_start, (p_new ->> 'created_at')::timestamptz), v_end,
                    case when etl.norm_key(p_new ->> 'status') = 'active' then nullif(btrim(p_new ->> 'reason'), '') end,
                    v_facility, coalesce((p_new ->> 'created_at')::timestamptz, v_start, now()), 'compat', 'compat')
            on conflict (admission_id) do update
                set encounter_id = excluded.encounter_id, admit_at = excluded.admit_at,
                    discharge_at = excluded.discharge_at, reason = excluded.reason,
                    facility_id = excluded.facility_id, updated_by = 'compat', deleted_at = null;
        end if;
    else
        select exists (
            select 1 from ops.legacy_id_map as m
            where m.legacy_table = 'bed_allocations' and m.legacy_key = p_key
              and m.canonical_table = 'inpatient.admissions' and m.disposition = 'LOADED')
          into v_opening;
    end if;
    select ad.encounter_id into v_enc from inpatient.admissions as ad where ad.admission_id = v_adm;

    -- one live allocation per bed at a time
    if v_bed is not null and exists (
        select 1
        from inpatient.bed_allocations as a
        where a.bed_id = v_bed and a.deleted_at is null and a.allocation_id <> v_alloc
          and coalesce(a.start_at, '-infinity'::timestamptz) < coalesce(v_end, 'infinity'::timestamptz)
          and coalesce(a.end_at, 'infinity'::timestamptz) > coalesce(v_start, '-infinity'::timestamptz))
    then
        raise exception 'compat bed_allocations: the bed has another allocation at that time (rule OVERLAPPING_ALLOCATION, column bed_id)';
    end if;

    insert into inpatient.bed_allocations as a
        (allocation_id, admission_id, bed_id, start_at, end_at, created_at, created_by, updated_by)
    values (v_alloc, v_adm, v_bed, v_start, v_end,
            coalesce((p_new ->> 'created_at')::timestamptz, (p_new ->> 'admission_date')::timestamptz, now()),
            'compat', 'compat')
    on conflict (allocation_id) do update
        set admission_id = excluded.admission_id, bed_id = excluded.bed_id, start_at = excluded.start_at,
            end_at = excluded.end_at, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('bed_allocations', p_key, 'inpatient.bed_allocations', v_alloc, 'LOADED', 'compat'),
           ('bed_allocations', p_key, 'inpatient.admissions', v_adm, case when v_opening then 'LOADED' else 'MERGED' end, 'compat'),
           ('bed_allocations', p_key, 'clinical.encounters', v_enc, case when v_opening then 'LOADED' else 'MERGED' end, 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();

    perform compat.bed_admission_refresh(v_adm);
    perform compat.merge_encounter_into_stay(v_enc_key, v_enc);
end
$$;
