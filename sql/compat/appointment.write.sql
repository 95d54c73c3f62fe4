-- compat write path: appointment (and appointments, which shares the rules: see
-- compat.appointment_write). Called by compat.dispatch after the dual write and the kept-store update
-- (encounter_id, duration_minutes, status_id, booking_method are kept: the kept store already holds
-- the written values). Rules of sql/clinical/appointments.sql:
--   * id: clinical.appointments etl.canonical_id('clinical.appointments', <table>, <key>); an
--     appointments row whose id is a live appointment row is a copy: MERGED into it, and its writes
--     go to that appointment (the live appointments is an alias of appointment).
--   * patient / doctor: those of the row's encounter (provenance of the legacy encounter; an
--     encounter merged into an IPD stay resolves to the stay). No live encounter or no patient:
--     raises (rule ORPHAN_FK, column encounter_id).
--   * scheduled_at: IST wall clock stored as UTC (Q28) -> etl.local_wall_clock.
--   * status: status_id -> legacy ref_code (appt_status) -> ref.codes 'map:appointment.status';
--     an unknown id loads NULL (the transform's WARN ORPHAN_FK); a NULL id is derived as the
--     transform does, with now() as the data's as-of: BOOKED for a future slot, else DONE when the
--     encounter has ended, else NULL.
--   * the appointment path of the encounter (Q28): an encounter that gets its first appointment
--     (table appointment) holds IST wall clock too, so its canonical start_at/end_at are converted
--     and its NULL type becomes OPD (encounters.sql); undone when its last appointment goes.
--   * DELETE: soft-deletes the canonical appointment (a copy's delete only drops its provenance).
-- Errors name the table, the rule and the column, never a value.

-- The appointment-path state of one legacy encounter: p_owned says whether it now has a live
-- appointment (table appointment) and p_was whether it had one before this write; converts its
-- canonical times (and derived type) one way or the other when that changes.
create or replace function compat.encounter_appointment_path(p_encounter_key text, p_was boolean, p_owned boolean)
returns void
language plpgsql
as $$
declare
    v_tz text;
    v_enc uuid;
begin
    if p_encounter_key is null or p_was = p_owned then
        return;
    end if;
    select f.timezone into v_tz
    from core.facilities as f
    where f.facility_id = etl.canonical_id('core.facilities', 'settings', 'facility');
    -- only an encounter of its own (one merged into an IPD stay takes the stay's times)
    select m.canonical_id into v_enc
    from ops.legacy_id_map as m
    where m.legacy_table = 'encounter' and m.legacy_key = p_encounter_key
      and m.canonical_table = 'clinical.encounters' and m.disposition = 'LOADED';
    if v_enc is null then
        return;
    end if;
    if p_owned then
        update clinical.encounters as e
           set start_at = etl.local_wall_clock(e.start_at, v_tz),
               end_at = etl.local_wall_clock(e.end_at, v_tz),
               type = coalesce(e.type, case when k.attrs ->> 'type_id' is null then 'OPD' end),
               updated_by = 'compat'
          from (select 1) as one
          left join ops.legacy_kept as k on k.legacy_table = 'encounter' and k.legacy_key = p_encounter_key
         where e.encounter_id = v_enc;
    else
        update clinical.encounters as e
           set start_at = case when etl.ts_shiftable(e.start_at)
                               then (e.start_at at time zone v_tz) at time zone 'UTC' else e.start_at end,
               end_at = case when etl.ts_shiftable(e.end_at)
                             then (e.end_at at time zone v_tz) at time zone 'UTC' else e.end_at end,
               type = case when e.type = 'OPD' and k.attrs ->> 'type_id' is null then null else e.type end,
               updated_by = 'compat'
          from (select 1) as one
          left join ops.legacy_kept as k on k.legacy_table = 'encounter' and k.legacy_key = p_encounter_key
         where e.encounter_id = v_enc;
    end if;
end
$$;

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

create or replace function compat.appointment_write(p_table text, p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_tz text;
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_id uuid;
    v_disposition text := 'LOADED';
    v_mapped_id uuid;
    v_mapped_disposition text;
    v_enc_key text;
    v_old_enc_key text;
    v_enc record;
    v_status_id uuid;
    v_status text;
    v_status_known boolean;
    v_scheduled timestamptz;
    v_was boolean;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat %: unknown operation (rule COMPAT_OP, column id)', p_table;
    end if;
    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;

    select m.canonical_id, m.disposition into v_mapped_id, v_mapped_disposition
    from ops.legacy_id_map as m
    where m.legacy_table = p_table and m.legacy_key = p_key and m.canonical_table = 'clinical.appointments';

    -- the canonical appointment this row is (a copy in appointments: the appointment row it copies)
    if p_table = 'appointments' then
        select m.canonical_id into v_id
        from ops.legacy_id_map as m
        join clinical.appointments as a on a.appointment_id = m.canonical_id and a.deleted_at is null
        where m.legacy_table = 'appointment' and m.legacy_key = p_key and m.canonical_table = 'clinical.appointments';
        if v_id is not null then
            v_disposition := 'MERGED';
        end if;
    end if;
    if v_id is null then
        v_id := coalesce(case when v_mapped_disposition = 'LOADED' then v_mapped_id end,
                         etl.canonical_id('clinical.appointments', p_table, p_key));
    end if;

    if p_op = 'DELETE' then
        if v_mapped_disposition = 'MERGED' then
            delete from ops.legacy_id_map as m
            where m.legacy_table = p_table and m.legacy_key = p_key and m.canonical_table = 'clinical.appointments';
        elsif v_mapped_id is not null then
            update clinical.appointments set deleted_at = now(), updated_by = 'compat'
            where appointment_id = v_mapped_id and deleted_at is null;
            if p_table = 'appointment' then
                v_old_enc_key := p_old ->> 'encounter_id';
                perform compat.encounter_appointment_path(
                    v_old_enc_key, true, compat.encounter_has_appointment(v_old_enc_key, p_key));
            end if;
        end if;
        return;
    end if;

    -- the encounter, its patient and doctor
    v_enc_key := p_new ->> 'encounter_id';
    select e.encounter_id, e.patient_id, e.attending_doctor_id, e.end_at into v_enc
    from ops.legacy_id_map as m
    join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
    where m.legacy_table = 'encounter' and m.legacy_key = v_enc_key and m.canonical_table = 'clinical.encounters';
    if v_enc.encounter_id is null then
        raise exception 'compat %: no live encounter (rule ORPHAN_FK, column encounter_id)', p_table;
    end if;
    if v_enc.patient_id is null then
        raise exception 'compat %: encounter without a patient (rule ORPHAN_FK, column encounter_id)', p_table;
    end if;

    v_scheduled := etl.local_wall_clock((p_new ->> 'scheduled_at')::timestamptz, v_tz);
    v_status_id := (p_new ->> 'status_id')::uuid;
    if v_status_id is not null then
        select true, s.display into v_status_known, v_status
        from ops.legacy_id_map as m
        join ref.codes as c
            on c.system = 'legacy.appt_status' and etl.canonical_id('ref.codes', c.system, c.code) = m.canonical_id
        left join ref.codes as s on s.system = 'map:appointment.status' and s.code = etl.norm_key(c.code)
        where m.legacy_table = 'ref_code' and m.legacy_key = v_status_id::text and m.canonical_table = 'ref.codes';
    else
        v_status := case when v_scheduled > now() then 'BOOKED'
                         when v_enc.end_at is not null then 'DONE' end;
    end if;

    if p_table = 'appointment' and p_op = 'UPDATE' then
        v_old_enc_key := p_old ->> 'encounter_id';
    end if;
    if p_table = 'appointment' then
        v_was := compat.encounter_has_appointment(v_enc_key, p_key)
                 or (v_old_enc_key is not distinct from v_enc_key and p_op = 'UPDATE');
    end if;

    insert into clinical.appointments as a
        (appointment_id, patient_id, doctor_id, facility_id, scheduled_at, status, created_at, created_by, updated_by)
    values (v_id, v_enc.patient_id, v_enc.attending_doctor_id, v_facility, v_scheduled, v_status,
            coalesce((p_new ->> 'created_at')::timestamptz, v_scheduled, now()), 'compat', 'compat')
    on conflict (appointment_id) do update
        set patient_id = excluded.patient_id,
            doctor_id = excluded.doctor_id,
            facility_id = excluded.facility_id,
            scheduled_at = excluded.scheduled_at,
            status = excluded.status,
            created_at = excluded.created_at,
            updated_by = 'compat',
            deleted_at = null;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values (p_table, p_key, 'clinical.appointments', v_id, v_disposition, 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();

    if p_table = 'appointment' then
        if v_old_enc_key is distinct from v_enc_key and v_old_enc_key is not null then
            perform compat.encounter_appointment_path(
                v_old_enc_key, true, compat.encounter_has_appointment(v_old_enc_key, p_key));
        end if;
        perform compat.encounter_appointment_path(v_enc_key, v_was, true);
    end if;
end
$$;

create or replace function compat.apply_@table@(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
begin
    perform compat.appointment_write('@table@', p_op, p_key, p_new, p_old);
end
$$;
