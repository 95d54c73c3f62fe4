-- compat write path: doctors (INSERT, UPDATE, DELETE). The rules of sql/core/persons.sql and
-- staff.sql for one doctor row: a doctor has no name; it is MERGED into the person of its login,
-- found by doctors.user_id = users.id (the legacy key) or users.auth_id (Q25; the kept auth_id of
-- the login): users.id first, then the smallest key. No login: raised (rule ORPHAN_FK, column
-- user_id), the dispatcher quarantines it, as the backfill does. The staff member of that person
-- gets the doctor's license_number (license_no) and, when the login has no staff row yet, is
-- created with role 'doctor'. DELETE only leaves the map (the staff member is the login's).
-- core.staff_schedules '<key>' from availability_hours (sql/core/staff_schedules.sql): pattern
-- 'days; start-end; sessions', starts_at/ends_at = the working hours on the facility-local date of
-- created_at; a blob of another shape is quarantined (UNPARSEABLE_VALUE, the rule in detail) and
-- its earlier schedule soft-deleted; no blob: no schedule. The row's other attributes are kept
-- (ops.legacy_kept, the dispatcher's).
create or replace function compat.apply_doctors(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_user_key text;
    v_person uuid;
    v_staff uuid;
    v_role_id uuid := etl.canonical_id('core.staff_roles', 'role', 'doctor');
    v_sched uuid := etl.canonical_id('core.staff_schedules', 'doctors', p_key);
    v_blob jsonb := nullif(p_new -> 'availability_hours', 'null'::jsonb);  -- SQL NULL and a JSON null alike (to_jsonb of the row cannot tell them apart)
    v_created timestamptz := coalesce((p_new ->> 'created_at')::timestamptz, now());
    v_tz text;
    v_day date;
    v_days text;
    v_sessions text;
    v_start text;
    v_end text;
    v_rule text;
begin
    if p_op = 'DELETE' then
        delete from ops.legacy_id_map as m where m.legacy_table = 'doctors' and m.legacy_key = p_key
           and m.canonical_table in ('core.persons', 'core.staff');
        update core.staff_schedules set deleted_at = now(), updated_by = 'compat'
         where schedule_id = v_sched and deleted_at is null;
        return;
    end if;

    -- the login: users.id, else users.auth_id (kept), among the logins mapped to a live person
    select um.legacy_key, um.canonical_id into v_user_key, v_person
      from ops.legacy_id_map as um
      join core.persons as pe on pe.person_id = um.canonical_id and pe.deleted_at is null
      left join ops.legacy_kept as k on k.legacy_table = 'users' and k.legacy_key = um.legacy_key
     where um.canonical_table = 'core.persons' and um.legacy_table = 'users'
       and (um.legacy_key = p_new ->> 'user_id' or k.attrs ->> 'auth_id' = p_new ->> 'user_id')
     order by (um.legacy_key = p_new ->> 'user_id') desc, um.legacy_key
     limit 1;
    if v_person is null then
        raise exception 'compat doctors: rule ORPHAN_FK, column user_id (doctor must have a users row: users.id or users.auth_id)'
            using errcode = 'HM003', column = 'user_id';
    end if;

    v_staff := etl.canonical_id('core.staff', 'core.persons', v_person::text);
    insert into core.staff_roles as r (role_id, name, scope, created_by, updated_by)
    values (v_role_id, 'doctor', 'clinical', 'compat', 'compat')
    on conflict (role_id) do nothing;
    insert into core.staff as s (staff_id, person_id, department_id, role_id, license_no, active_from, active_to,
                                 created_at, created_by, updated_by, deleted_at)
    values (v_staff, v_person, null, v_role_id, p_new ->> 'license_number', null, null,
            coalesce((p_new ->> 'created_at')::timestamptz, now()), 'compat', 'compat', null)
    on conflict (staff_id) do update
    set license_no = excluded.license_no, updated_by = 'compat';

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('doctors', p_key, 'core.persons', v_person, 'MERGED', 'compat', now()),
           ('doctors', p_key, 'core.staff', v_staff, 'MERGED', 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = 'MERGED', run_id = 'compat', mapped_at = now();

    -- === schedule from availability_hours ========================================================
    if v_blob is null then
        update core.staff_schedules set deleted_at = now(), updated_by = 'compat'
         where schedule_id = v_sched and deleted_at is null;
        delete from ops.legacy_id_map where legacy_table = 'doctors' and legacy_key = p_key
           and canonical_table = 'core.staff_schedules';
        return;
    end if;
    if jsonb_typeof(v_blob) <> 'object' then
        v_rule := 'availability_hours is not a JSON object';
    elsif coalesce(jsonb_typeof(v_blob -> 'workingDays'), 'null') not in ('array', 'null')
          or coalesce(jsonb_typeof(v_blob -> 'availableSessions'), 'null') not in ('array', 'null')
          or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(v_blob -> 'workingDays') = 'array'
                                                             then v_blob -> 'workingDays' else '[]'::jsonb end) as x (v)
                      where jsonb_typeof(x.v) in ('array', 'object'))
          or exists (select 1 from jsonb_array_elements(case when jsonb_typeof(v_blob -> 'availableSessions') = 'array'
                                                             then v_blob -> 'availableSessions' else '[]'::jsonb end) as x (v)
                      where jsonb_typeof(x.v) in ('array', 'object')) then
        v_rule := 'workingDays/availableSessions is not a list of plain values';
    elsif coalesce(jsonb_typeof(v_blob -> 'workingHoursStart'), 'null') not in ('string', 'null')
          or coalesce(jsonb_typeof(v_blob -> 'workingHoursEnd'), 'null') not in ('string', 'null')
          or (v_blob ->> 'workingHoursStart' is not null and etl.try_time(v_blob ->> 'workingHoursStart') is null)
          or (v_blob ->> 'workingHoursEnd' is not null and etl.try_time(v_blob ->> 'workingHoursEnd') is null) then
        v_rule := 'workingHoursStart/End is not a time of day HH:MM';
    end if;

    if v_rule is not null then
        insert into ops.quarantine as q (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
        values ('doctors', p_key, 'core.staff_schedules', 'UNPARSEABLE_VALUE',
                jsonb_build_object('column', 'availability_hours', 'rule', v_rule), 'compat')
        on conflict (legacy_table, legacy_key, target_table, reason_code) do update
        set detail = excluded.detail, last_seen_at = now(), resolved_at = null, run_id = 'compat';
        update core.staff_schedules set deleted_at = now(), updated_by = 'compat'
         where schedule_id = v_sched and deleted_at is null;
        delete from ops.legacy_id_map where legacy_table = 'doctors' and legacy_key = p_key
           and canonical_table = 'core.staff_schedules';
        return;
    end if;

    select f.timezone into v_tz from core.facilities as f
     where f.facility_id = etl.canonical_id('core.facilities', 'settings', 'facility');
    v_tz := coalesce(v_tz, 'Asia/Kolkata');
    v_day := etl.local_date(v_created, v_tz);
    select string_agg(x #>> '{}', ',' order by n) into v_days
      from jsonb_array_elements(case when jsonb_typeof(v_blob -> 'workingDays') = 'array'
                                     then v_blob -> 'workingDays' else '[]'::jsonb end) with ordinality as e (x, n);
    select string_agg(x #>> '{}', ',' order by n) into v_sessions
      from jsonb_array_elements(case when jsonb_typeof(v_blob -> 'availableSessions') = 'array'
                                     then v_blob -> 'availableSessions' else '[]'::jsonb end) with ordinality as e (x, n);
    v_start := v_blob ->> 'workingHoursStart';
    v_end := v_blob ->> 'workingHoursEnd';
    insert into core.staff_schedules as x (schedule_id, staff_id, starts_at, ends_at, pattern, created_at,
                                           created_by, updated_by, deleted_at)
    values (v_sched, v_staff, etl.local_wall_clock(v_day, etl.try_time(v_start), v_tz),
            etl.local_wall_clock(v_day, etl.try_time(v_end), v_tz),
            concat_ws('; ', v_days, concat_ws('-', v_start, v_end), v_sessions), v_created, 'compat', 'compat', null)
    on conflict (schedule_id) do update
    set staff_id = excluded.staff_id, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
        pattern = excluded.pattern, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('doctors', p_key, 'core.staff_schedules', v_sched, 'LOADED', 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
    update ops.quarantine as q set resolved_at = now(), run_id = 'compat'
     where q.legacy_table = 'doctors' and q.legacy_key = p_key and q.target_table = 'core.staff_schedules'
       and q.resolved_at is null;
end
$$;
