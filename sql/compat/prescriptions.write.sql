-- compat write path: prescriptions (INSERT, UPDATE, DELETE). Called by compat.dispatch() after the
-- dual write into the archive and the kept store.
-- Applies one legacy prescription to pharmacy.prescriptions with the rules of
-- sql/pharmacy/prescriptions.sql (id etl.canonical_id of the legacy key):
--   encounter  the first that resolves of: encounter_id through provenance (legacy encounter, LOADED
--              or MERGED, a live encounter); the encounter of its appointment (appointment_id -> the
--              legacy appointment's encounter_id as the kept store holds it -> provenance); the
--              patient's (patient_id -> core.patients) encounter in progress at prescribed_at
--              (start_at <= t <= end_at; without end_at 24 hours, an open IPD stay still running),
--              the latest started. None: ORPHAN_FK (column encounter_id);
--   prescribed_by  doctor_id -> core.staff through provenance (legacy doctors); unresolved: NULL;
--   prescribed_at  created_at when its facility-local date is issue_date (or issue_date is NULL),
--              else issue_date at local midnight; else the encounter's start;
--   rx_number, instructions, diagnosis, notes: pharmacy.clean_text; status: map:prescriptions.status
--              of etl.norm_key (unknown: NULL); legacy_attributes: appointment_id (when it names an
--              appointment), issue_date, has_lab_tests, status as written.
-- DELETE soft-deletes the prescription (its provenance stays: the view hides soft-deleted rows).
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value.
create or replace function compat.apply_prescriptions(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_tz text;
    v_rx uuid;
    v_encounter uuid;
    v_appointment_found boolean := false;
    v_appointment_encounter text;
    v_patient uuid;
    v_staff uuid;
    v_created timestamptz;
    v_issue date;
    v_written timestamptz;
    v_prescribed timestamptz;
    v_status text;
begin
    select m.canonical_id into v_rx
      from ops.legacy_id_map as m
     where m.legacy_table = 'prescriptions' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.prescriptions';

    if p_op = 'DELETE' then
        update pharmacy.prescriptions as p set deleted_at = now(), updated_by = 'compat'
         where p.rx_id = v_rx and p.deleted_at is null;
        return;
    end if;
    v_rx := coalesce(v_rx, etl.canonical_id('pharmacy.prescriptions', 'prescriptions', p_key));

    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
    v_tz := coalesce(v_tz, 'Asia/Kolkata');
    v_created := (p_new ->> 'created_at')::timestamptz;
    v_issue := (p_new ->> 'issue_date')::date;
    v_written := case when v_issue is null or etl.local_date(v_created, v_tz) = v_issue then v_created
                      else etl.local_wall_clock(v_issue, time '00:00', v_tz) end;

    -- 1 the encounter by provenance
    select e.encounter_id into v_encounter
      from ops.legacy_id_map as m
      join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
     where m.canonical_table = 'clinical.encounters' and m.legacy_table = 'encounter'
       and m.legacy_key = p_new ->> 'encounter_id'
     limit 1;
    -- 2 the encounter of its appointment
    if p_new ->> 'appointment_id' is not null then
        v_appointment_found := exists (select 1 from ops.legacy_id_map as m
                                       where m.legacy_table = 'appointment' and m.legacy_key = p_new ->> 'appointment_id');
        if v_encounter is null then
            select k.attrs ->> 'encounter_id' into v_appointment_encounter
              from ops.legacy_kept as k
             where k.legacy_table = 'appointment' and k.legacy_key = p_new ->> 'appointment_id';
            select e.encounter_id into v_encounter
              from ops.legacy_id_map as m
              join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
             where m.canonical_table = 'clinical.encounters' and m.legacy_table = 'encounter'
               and m.legacy_key = v_appointment_encounter
             limit 1;
        end if;
    end if;
    -- 3 the patient's encounter in progress
    if v_encounter is null and v_written is not null then
        select p.patient_id into v_patient
          from ops.legacy_id_map as m
          join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
         where m.canonical_table = 'core.patients' and m.legacy_table = 'patients' and m.legacy_key = p_new ->> 'patient_id'
         limit 1;
        select e.encounter_id into v_encounter
          from clinical.encounters as e
         where e.deleted_at is null and e.patient_id = v_patient
           and e.start_at <= v_written
           and v_written <= coalesce(e.end_at, case when e.type = 'IPD' then 'infinity'::timestamptz
                                                    else etl.ts_add(e.start_at, interval '24 hours') end)
         order by e.start_at desc, e.encounter_id
         limit 1;
    end if;
    if v_encounter is null then
        raise exception 'compat prescriptions: rule ORPHAN_FK, column encounter_id (no live encounter: not by provenance, appointment or the patient''s encounter in progress)'
            using errcode = 'HM002', column = 'encounter_id';
    end if;
    select coalesce(v_written, e.start_at) into v_prescribed from clinical.encounters as e where e.encounter_id = v_encounter;

    select st.staff_id into v_staff
      from ops.legacy_id_map as m
      join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
     where m.canonical_table = 'core.staff' and m.legacy_table = 'doctors' and m.legacy_key = p_new ->> 'doctor_id'
     limit 1;
    select c.display into v_status from ref.codes as c
     where c.system = 'map:prescriptions.status' and c.code = etl.norm_key(p_new ->> 'status');

    insert into pharmacy.prescriptions as p (rx_id, encounter_id, prescribed_by, prescribed_at, rx_number, status,
                                             instructions, diagnosis, notes, legacy_attributes, created_at,
                                             created_by, updated_by)
    values (v_rx, v_encounter, v_staff, v_prescribed, pharmacy.clean_text(p_new ->> 'prescription_id'), v_status,
            pharmacy.clean_text(p_new ->> 'instructions'), pharmacy.clean_text(p_new ->> 'diagnosis'),
            pharmacy.clean_text(p_new ->> 'notes'),
            jsonb_strip_nulls(jsonb_build_object(
                'appointment_id', case when v_appointment_found then p_new ->> 'appointment_id' end,
                'issue_date', v_issue, 'has_lab_tests', (p_new ->> 'has_lab_tests')::boolean,
                'status', p_new ->> 'status')),
            coalesce(v_created, v_prescribed), 'compat', 'compat')
    on conflict (rx_id) do update
       set encounter_id = excluded.encounter_id, prescribed_by = excluded.prescribed_by,
           prescribed_at = excluded.prescribed_at, rx_number = excluded.rx_number, status = excluded.status,
           instructions = excluded.instructions, diagnosis = excluded.diagnosis, notes = excluded.notes,
           legacy_attributes = excluded.legacy_attributes, created_at = excluded.created_at, deleted_at = null,
           updated_by = 'compat';

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('prescriptions', p_key, 'pharmacy.prescriptions', v_rx, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now()
    where m.canonical_id is distinct from excluded.canonical_id or m.disposition <> 'LOADED';
end
$$;

comment on function compat.apply_prescriptions(text, text, jsonb, jsonb) is
    'compat write path of prescriptions: pharmacy.prescriptions (encounter by provenance, appointment or the patient''s encounter in progress) and its provenance';
