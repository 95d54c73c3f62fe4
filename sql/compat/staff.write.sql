-- compat write path: staff (INSERT, UPDATE, DELETE). The rules of sql/core/persons.sql and
-- staff.sql for one staff row:
--   * person: the staff login named by user_id (a non-patient login; several persons: users.id,
--     then the smallest key), else (no user_id) the staff login with the same e-mail
--     (etl.norm_email), else (no user_id, no e-mail) the one staff login with the same 10-digit
--     mobile: MERGED into that login's person and staff member (the login's values win). Otherwise
--     a person of its own (LOADED): initcap(trim) names, phone E.164, e-mail normalized.
--   * core.staff (own person only): department = department_id through provenance (a department
--     that is not loaded: NULL, the backfill's WARN), role by ref.codes 'map:staff.role' (the
--     core.staff_roles row is created when new), active_from = hire_date, active_to = updated_at
--     when not is_active.
-- DELETE: an owner's canonical rows are soft-deleted; a MERGED row only leaves the map.
-- Not applied (documented gap): a login written after the staff row does not re-home it (the next
-- backfill run does); the kept attributes are the dispatcher's (ops.legacy_kept).
create or replace function compat.apply_staff(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_user_id text := p_new ->> 'user_id';
    v_email text := etl.norm_email(p_new ->> 'email');
    v_mobile text := etl.norm_mobile(p_new ->> 'phone');
    v_created timestamptz := coalesce((p_new ->> 'created_at')::timestamptz, now());
    v_person uuid;
    v_disp text := 'LOADED';
    v_staff uuid;
    v_dept uuid;
    v_role_name text;
    v_role_id uuid;
begin
    if p_op = 'DELETE' then
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'staff' and m.legacy_key = p_key and m.disposition = 'MERGED';
        update core.staff as s set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.staff' and m.legacy_table = 'staff' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and s.staff_id = m.canonical_id and s.deleted_at is null;
        update core.persons as p set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.persons' and m.legacy_table = 'staff' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and p.person_id = m.canonical_id and p.deleted_at is null;
        return;
    end if;

    if nullif(btrim(p_new ->> 'role'), '') is null then
        raise exception 'compat staff: rule MISSING_VALUE, column role' using errcode = 'HM002', column = 'role';
    end if;

    -- === the staff login this row belongs to ====================================================
    with logins as (
        select um.legacy_key, um.canonical_id as person_id, u.email, pe.phone
          from ops.legacy_id_map as um
          join core.persons as pe on pe.person_id = um.canonical_id and pe.deleted_at is null
          join ops.legacy_id_map as lm on lm.canonical_table = 'core.users' and lm.legacy_table = 'users'
                                      and lm.legacy_key = um.legacy_key
          join core.users as u on u.user_id = lm.canonical_id and u.deleted_at is null
         where um.canonical_table = 'core.persons' and um.legacy_table = 'users'
           and exists (select 1 from ops.legacy_id_map as sm  -- a staff login (it has a staff member)
                        where sm.canonical_table = 'core.staff' and sm.legacy_table = 'users'
                          and sm.legacy_key = um.legacy_key)
    ),
    by_mobile as (
        select min(l.person_id::text)::uuid as person_id
          from logins as l
         where length(v_mobile) = 10 and etl.norm_mobile(l.phone) = v_mobile
        having count(distinct l.person_id) = 1
    )
    select l.person_id into v_person
      from logins as l
     where (v_user_id is not null and l.legacy_key = v_user_id)
        or (v_user_id is null and v_email is not null and l.email = v_email)
        or (v_user_id is null and v_email is null and l.person_id = (select b.person_id from by_mobile as b))
     order by (l.legacy_key = v_user_id) desc nulls last, l.legacy_key
     limit 1;

    if v_person is not null then
        v_disp := 'MERGED';
    else
        v_person := etl.canonical_id('core.persons', 'staff', p_key);
        insert into core.persons as pe (person_id, first_name, last_name, dob, sex, phone, email, address,
                                        created_at, created_by, updated_by, deleted_at)
        values (v_person, initcap(trim(p_new ->> 'first_name')), initcap(trim(p_new ->> 'last_name')), null, null,
                etl.e164_in(p_new ->> 'phone'), v_email, null, v_created, 'compat', 'compat', null)
        on conflict (person_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name, phone = excluded.phone,
            email = excluded.email, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
    end if;
    v_staff := etl.canonical_id('core.staff', 'core.persons', v_person::text);

    if v_disp = 'LOADED' then
        select d.department_id into v_dept
          from ops.legacy_id_map as dm
          join core.departments as d on d.department_id = dm.canonical_id and d.deleted_at is null
         where dm.canonical_table = 'core.departments' and dm.legacy_table = 'departments'
           and dm.legacy_key = p_new ->> 'department_id';
        select coalesce(rm.display, etl.norm_key(p_new ->> 'role')) into v_role_name
          from (select 1) as one
          left join ref.codes as rm on rm.system = 'map:staff.role' and rm.code = etl.norm_key(p_new ->> 'role');
        v_role_id := etl.canonical_id('core.staff_roles', 'role', v_role_name);
        insert into core.staff_roles as r (role_id, name, scope, created_by, updated_by)
        select v_role_id, v_role_name, sc.display, 'compat', 'compat'
          from (select 1) as one
          left join ref.codes as sc on sc.system = 'map:staff_roles.scope' and sc.code = v_role_name
        on conflict (role_id) do nothing;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
        values ('role', v_role_name, 'core.staff_roles', v_role_id, 'LOADED', 'compat', now())
        on conflict (legacy_table, legacy_key, canonical_table) do nothing;

        insert into core.staff as s (staff_id, person_id, department_id, role_id, license_no, active_from, active_to,
                                     created_at, created_by, updated_by, deleted_at)
        values (v_staff, v_person, v_dept, v_role_id, null, etl.date_ts((p_new ->> 'hire_date')::date),
                case when not coalesce((p_new ->> 'is_active')::boolean, true)
                     then (p_new ->> 'updated_at')::timestamptz end,
                v_created, 'compat', 'compat', null)
        on conflict (staff_id) do update
        set department_id = excluded.department_id, role_id = excluded.role_id, active_from = excluded.active_from,
            active_to = excluded.active_to, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
    else
        -- the row was its own person before and now belongs to a login: its own rows go
        update core.staff as s set deleted_at = now(), updated_by = 'compat'
         where s.staff_id = etl.canonical_id('core.staff', 'core.persons',
                                             etl.canonical_id('core.persons', 'staff', p_key)::text)
           and s.deleted_at is null;
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('staff', p_key, 'core.persons', v_person, v_disp, 'compat', now()),
           ('staff', p_key, 'core.staff', v_staff, v_disp, 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = excluded.disposition, run_id = 'compat', mapped_at = now();
end
$$;
