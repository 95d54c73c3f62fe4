-- compat write path: departments (INSERT, UPDATE, DELETE). The rules of sql/core/departments.sql:
-- id etl.canonical_id('core.departments', 'departments', key), the facility, trimmed name, type by
-- ref.codes 'map:departments.type' (etl.norm_key of the name; unmapped: NULL, as the backfill loads
-- it with a WARN). DELETE soft-deletes. The kept columns (description, head_of_department,
-- location, phone, status, updated_at) are the dispatcher's (ops.legacy_kept).
-- inpatient.wards (sql/inpatient/wards.sql: a ward is the bed area of a department, derived from
-- beds): the department's existing ward follows its name (trimmed) and liveness (a deleted
-- department leaves its ward with department_id NULL, as the backfill's UNRESOLVED_DEPARTMENT);
-- a ward is created by the beds write path, not here (a new department has no beds).
create or replace function compat.apply_departments(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_id uuid := etl.canonical_id('core.departments', 'departments', p_key);
begin
    if p_op = 'DELETE' then
        update core.departments set deleted_at = now(), updated_by = 'compat'
         where department_id = v_id and deleted_at is null;
        update inpatient.wards set department_id = null, updated_by = 'compat'
         where ward_id = etl.canonical_id('inpatient.wards', 'departments', p_key) and department_id is not null;
        return;
    end if;
    if nullif(btrim(p_new ->> 'name'), '') is null then
        raise exception 'compat departments: rule MISSING_VALUE, column name' using errcode = 'HM002', column = 'name';
    end if;
    insert into core.departments as d (department_id, facility_id, name, type, created_at, created_by, updated_by, deleted_at)
    select v_id, etl.canonical_id('core.facilities', 'settings', 'facility'), trim(p_new ->> 'name'), m.display,
           coalesce((p_new ->> 'created_at')::timestamptz, now()), 'compat', 'compat', null
      from (select 1) as one
      left join ref.codes as m on m.system = 'map:departments.type' and m.code = etl.norm_key(p_new ->> 'name')
    on conflict (department_id) do update
    set name = excluded.name, type = excluded.type, created_at = excluded.created_at, updated_by = 'compat',
        deleted_at = null;
    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('departments', p_key, 'core.departments', v_id, 'LOADED', 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
    update inpatient.wards as w set name = trim(p_new ->> 'name'), department_id = v_id, updated_by = 'compat'
     where w.ward_id = etl.canonical_id('inpatient.wards', 'departments', p_key)
       and (w.name is distinct from trim(p_new ->> 'name') or w.department_id is distinct from v_id);
end
$$;
