-- compat write path: users (INSERT, UPDATE, upsert, DELETE). The rules of sql/core/persons.sql,
-- users.sql, staff.sql and staff_roles.sql for one login:
--   * person: a patient login (etl.is_patient_login) is MERGED into the person of the earliest
--     registration of its UHID (employee_id; none: a person of its own, as the backfill does); a
--     staff login with the same e-mail and name (etl.norm_email, etl.norm_name) as an earlier staff
--     login is MERGED into that login's person; otherwise the login owns a person (LOADED): name
--     without a leading 'Dr.', phone E.164, e-mail (a patient login's '<UHID>@annam.com': NULL),
--     address {'line': address}.
--   * core.users: the login (etl.norm_email of email, NOT NULL); a second login of one person with
--     the same address is MERGED into the earlier login. Logins of different persons sharing an
--     address: the unique e-mail refuses the write (the dispatcher quarantines it, as the backfill's
--     DUPLICATE_KEY does).
--   * core.staff (staff logins): staff id from the person, department = the users.department text
--     matched to a live department by name (etl.norm_key; several: the smallest legacy key), else
--     the department of the login's staff member already recorded; role by ref.codes
--     'map:staff.role' (the core.staff_roles row is created when new, scope by
--     'map:staff_roles.scope'); active_from = joined_date, active_to = updated_at when status is
--     inactive/suspended; license_no stays what the doctor rows gave.
-- DELETE: an owner's canonical rows are soft-deleted; a MERGED login only leaves the map.
-- Not applied (documented gaps): a staff row or doctor row written before its login is not
-- re-homed to the new login's person (the next backfill run does it); a change of role to or from
-- 'patient' on UPDATE re-homes the person but leaves the former staff row soft-deleted only.
create or replace function compat.apply_users(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_role text := p_new ->> 'role';
    v_is_patient boolean := etl.is_patient_login(p_new ->> 'role');
    v_email text := etl.norm_email(p_new ->> 'email');
    v_norm_name text := etl.norm_name(p_new ->> 'name');
    v_created timestamptz := coalesce((p_new ->> 'created_at')::timestamptz, now());
    v_person uuid;
    v_pdisp text := 'LOADED';
    v_user uuid;
    v_udisp text := 'LOADED';
    v_staff uuid;
    v_name text;
    v_dept uuid;
    v_role_name text;
    v_role_id uuid;
begin
    if p_op = 'DELETE' then
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'users' and m.legacy_key = p_key and m.disposition = 'MERGED';
        update core.users as u set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.users' and m.legacy_table = 'users' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and u.user_id = m.canonical_id and u.deleted_at is null;
        update core.staff as s set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.staff' and m.legacy_table = 'users' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and s.staff_id = m.canonical_id and s.deleted_at is null;
        update core.persons as p set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.persons' and m.legacy_table = 'users' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and p.person_id = m.canonical_id and p.deleted_at is null;
        return;
    end if;

    if v_email is null then
        raise exception 'compat users: rule MISSING_VALUE, column email (a login needs an address)'
            using errcode = 'HM002', column = 'email';
    end if;

    -- === person ==================================================================================
    if v_is_patient then
        -- the person of the registration of the UHID (core.patients.uhid is unique; a duplicate
        -- registration's own UHID is not held by canonical: such a login gets a person of its own)
        select pa.person_id into v_person
          from core.patients as pa
         where pa.uhid = p_new ->> 'employee_id' and pa.deleted_at is null;
        if v_person is not null then
            v_pdisp := 'MERGED';
        end if;
    elsif v_norm_name is not null then
        -- an earlier staff login of the same person (same address, same name) owns the person
        select pm.canonical_id into v_person
          from ops.legacy_id_map as pm
          join core.users as u on u.person_id = pm.canonical_id and u.deleted_at is null
          join ops.legacy_id_map as um on um.canonical_table = 'core.users' and um.canonical_id = u.user_id
                                      and um.legacy_table = 'users' and um.legacy_key = pm.legacy_key
          join core.persons as pe on pe.person_id = pm.canonical_id and pe.deleted_at is null
         where pm.canonical_table = 'core.persons' and pm.legacy_table = 'users' and pm.disposition = 'LOADED'
           and pm.legacy_key <> p_key
           and u.email = v_email
           and etl.norm_name(concat_ws(' ', pe.first_name, pe.last_name)) = v_norm_name
           and (u.created_at < v_created or (u.created_at = v_created and pm.legacy_key < p_key))
         order by u.created_at, pm.legacy_key
         limit 1;
        if v_person is not null then
            v_pdisp := 'MERGED';
        end if;
    end if;

    if v_pdisp = 'LOADED' then
        v_person := etl.canonical_id('core.persons', 'users', p_key);
        v_name := regexp_replace(regexp_replace(trim(p_new ->> 'name'), '^(dr\.?\s+)', '', 'i'), '\s+', ' ', 'g');
        insert into core.persons as pe (person_id, first_name, last_name, dob, sex, phone, email, address,
                                        created_at, created_by, updated_by, deleted_at)
        values (v_person, split_part(v_name, ' ', 1),
                nullif(substr(v_name, length(split_part(v_name, ' ', 1)) + 2), ''),
                null, null, etl.e164_in(p_new ->> 'phone'),
                case when v_is_patient and v_email like '%@annam.com' then null else v_email end,
                case when p_new ->> 'address' is not null then jsonb_build_object('line', p_new ->> 'address') end,
                v_created, 'compat', 'compat', null)
        on conflict (person_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name, phone = excluded.phone,
            email = excluded.email, address = excluded.address, created_at = excluded.created_at,
            updated_by = 'compat', deleted_at = null;
    end if;

    -- === login ===================================================================================
    select um.canonical_id into v_user
      from core.users as u
      join ops.legacy_id_map as um on um.canonical_table = 'core.users' and um.canonical_id = u.user_id
                                  and um.legacy_table = 'users' and um.disposition = 'LOADED'
     where u.person_id = v_person and u.email = v_email and u.deleted_at is null and um.legacy_key <> p_key
       and (u.created_at < v_created or (u.created_at = v_created and um.legacy_key < p_key))
     order by u.created_at, um.legacy_key
     limit 1;
    if v_user is not null then
        v_udisp := 'MERGED';
    else
        v_user := etl.canonical_id('core.users', 'users', p_key);
        insert into core.users as u (user_id, email, person_id, created_at, created_by, updated_by, deleted_at)
        values (v_user, v_email, v_person, v_created, 'compat', 'compat', null)
        on conflict (user_id) do update
        set email = excluded.email, person_id = excluded.person_id, created_at = excluded.created_at,
            updated_by = 'compat', deleted_at = null;
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('users', p_key, 'core.persons', v_person, v_pdisp, 'compat', now()),
           ('users', p_key, 'core.users', v_user, v_udisp, 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = excluded.disposition, run_id = 'compat', mapped_at = now();

    -- === staff member (staff logins) =============================================================
    if v_is_patient then
        update core.staff as s set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.staff' and m.legacy_table = 'users' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and s.staff_id = m.canonical_id and s.deleted_at is null;
        delete from ops.legacy_id_map as m
         where m.canonical_table = 'core.staff' and m.legacy_table = 'users' and m.legacy_key = p_key;
        return;
    end if;

    v_staff := etl.canonical_id('core.staff', 'core.persons', v_person::text);
    -- department: the free text matched to a live department by name, else the staff member's own
    select (array_agg(d.department_id order by dm.legacy_key))[1] into v_dept
      from core.departments as d
      join ops.legacy_id_map as dm on dm.canonical_table = 'core.departments' and dm.canonical_id = d.department_id
                                  and dm.legacy_table = 'departments'
     where d.deleted_at is null and etl.norm_key(d.name) = etl.norm_key(p_new ->> 'department');
    if v_dept is null then
        select s.department_id into v_dept from core.staff as s where s.staff_id = v_staff;
    end if;

    select coalesce(rm.display, etl.norm_key(v_role)) into v_role_name
      from (select 1) as one
      left join ref.codes as rm on rm.system = 'map:staff.role' and rm.code = etl.norm_key(v_role);
    if v_role_name is not null then
        v_role_id := etl.canonical_id('core.staff_roles', 'role', v_role_name);
        insert into core.staff_roles as r (role_id, name, scope, created_by, updated_by)
        select v_role_id, v_role_name, sc.display, 'compat', 'compat'
          from (select 1) as one
          left join ref.codes as sc on sc.system = 'map:staff_roles.scope' and sc.code = v_role_name
        on conflict (role_id) do nothing;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
        values ('role', v_role_name, 'core.staff_roles', v_role_id, 'LOADED', 'compat', now())
        on conflict (legacy_table, legacy_key, canonical_table) do nothing;
    end if;

    insert into core.staff as s (staff_id, person_id, department_id, role_id, license_no, active_from, active_to,
                                 created_at, created_by, updated_by, deleted_at)
    values (v_staff, v_person, v_dept, v_role_id, null, etl.date_ts((p_new ->> 'joined_date')::date),
            case when etl.norm_key(p_new ->> 'status') in ('inactive', 'suspended')
                 then (p_new ->> 'updated_at')::timestamptz end,
            v_created, 'compat', 'compat', null)
    on conflict (staff_id) do update
    set department_id = excluded.department_id, role_id = excluded.role_id, active_from = excluded.active_from,
        active_to = excluded.active_to, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null
    where v_pdisp = 'LOADED';  -- a MERGED login does not overwrite the owner's staff row
    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('users', p_key, 'core.staff', v_staff, v_pdisp, 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = excluded.disposition, run_id = 'compat', mapped_at = now();
end
$$;
