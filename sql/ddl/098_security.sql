-- Phase 5, row-level security (issue #14; blueprint "Row Level Security (RLS) - Starter Policies").
--
-- This file DEFINES the roles, the caller functions, the grants and the policies. It does NOT enable
-- RLS on any table: the blueprint turns RLS on table by table after the application is verified, so
-- enabling is `hms-pipeline security enable [--table T]` (hms_pipeline/security/rls.py). Until then a
-- policy is inert. Every statement is idempotent (re-applying changes nothing): roles are created
-- only when missing, policies are created when missing and otherwise ALTERed to the same definition.
--
-- Roles (NOLOGIN group roles; the same names on a plain PostgreSQL and on Supabase):
--   hms_doctor, hms_nurse, hms_pharmacy, hms_billing, hms_admin  the policies' subjects;
--   hms_app       the application's role: NOINHERIT and a member of the five, so it has no rights
--                 of its own and must SET ROLE to one of them (a LOGIN role of the deployment, e.g.
--                 Supabase's authenticator, is granted hms_app or the five roles by the DBA);
--   hms_migrator  the pipeline: BYPASSRLS when the applying user may grant it (a superuser, or on
--                 PostgreSQL 16+ a role that has BYPASSRLS itself). Otherwise (Supabase's postgres
--                 is not a superuser) it is created without it and granted hms_admin, whose
--                 policies allow every row: the bypass stays explicit and visible in pg_policies.
--                 The pipeline as shipped connects as the tables' owner, which RLS never filters
--                 (policies are not FORCEd), so backfills keep working after `security enable`.
-- Without CREATEROLE the roles are not created (NOTICE) and, when they do not exist, the grants
-- and policies are skipped too (NOTICE): the schema phase never fails on missing role rights.
--
-- Who is calling (the same on Supabase and plain PostgreSQL, no extension):
--   ops.current_staff_id()    request.jwt.claims (Supabase/PostgREST, set per request) when it is
--                             set: claim staff_id (a custom claim of the access-token hook), else
--                             claim sub (the auth user id) mapped to core.users (user_id = sub, or the
--                             legacy users row whose kept auth_id = sub, via provenance) -> person ->
--                             live core.staff row. When the claims are set the session setting is
--                             NOT consulted (a request cannot widen itself). Otherwise the session
--                             setting hms.staff_id (the application sets it per transaction:
--                             set local hms.staff_id = '...'). A value that is not a uuid is NULL.
--   ops.current_facility_id() the facility of the caller's live staff row (core.staff ->
--                             core.departments.facility_id; core.staff has no facility column).
-- The scope functions (ops.rls_*) are SECURITY DEFINER (owner: the tables' owner, who bypasses RLS)
-- so that a policy can look at a parent row without recursing into that parent's policies; they
-- only answer true/false. The trust boundary is the connection: only the application server
-- connects as hms_app, and sets the staff id it has authenticated.
--
-- The policy matrix (role x table x verb, in/out of scope) is written out in the README and as data
-- in hms_pipeline/security/rls.py (MATRIX); `hms-pipeline security status` runs it live.

-- === roles ======================================================================================
do $$
declare
    r text;
    can_create boolean;
    can_bypass boolean;
begin
    select rolsuper or rolcreaterole, rolsuper or (rolbypassrls and current_setting('server_version_num')::int >= 160000)
      into can_create, can_bypass
      from pg_roles where rolname = current_user;
    if not can_create then
        raise notice 'hms security: % has no CREATEROLE; roles not created (a DBA creates hms_doctor, hms_nurse, hms_pharmacy, hms_billing, hms_admin, hms_app, hms_migrator)', current_user;
        return;
    end if;
    foreach r in array array['hms_doctor', 'hms_nurse', 'hms_pharmacy', 'hms_billing', 'hms_admin'] loop
        if not exists (select 1 from pg_roles where rolname = r) then
            execute format('create role %I nologin', r);
        end if;
    end loop;
    if not exists (select 1 from pg_roles where rolname = 'hms_app') then
        create role hms_app nologin noinherit;
    end if;
    foreach r in array array['hms_doctor', 'hms_nurse', 'hms_pharmacy', 'hms_billing', 'hms_admin'] loop
        if not exists (select 1 from pg_auth_members m
                        where m.roleid = (select oid from pg_roles where rolname = r)
                          and m.member = (select oid from pg_roles where rolname = 'hms_app')) then
            execute format('grant %I to hms_app', r);
        end if;
    end loop;
    if not exists (select 1 from pg_roles where rolname = 'hms_migrator') then
        if can_bypass then
            create role hms_migrator nologin bypassrls;
        else
            create role hms_migrator nologin;
        end if;
    end if;
    if not (select rolbypassrls from pg_roles where rolname = 'hms_migrator') then
        if can_bypass then
            alter role hms_migrator bypassrls;
        else
            raise notice 'hms security: % may not grant BYPASSRLS; hms_migrator gets hms_admin (every row, visibly) instead', current_user;
            if not exists (select 1 from pg_auth_members m
                            where m.roleid = (select oid from pg_roles where rolname = 'hms_admin')
                              and m.member = (select oid from pg_roles where rolname = 'hms_migrator')) then
                grant hms_admin to hms_migrator;
            end if;
        end if;
    end if;
end
$$;

-- === who is calling =============================================================================
create or replace function ops.rls_uuid(p text)
returns uuid
language sql
immutable
parallel safe
as $$
    select case when p ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then p::uuid end
$$;

comment on function ops.rls_uuid(text) is 'text -> uuid, NULL when it is not one (never raises: used by the RLS caller functions)';

create or replace function ops.current_staff_id()
returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_claims text := nullif(current_setting('request.jwt.claims', true), '');
    v_json jsonb;
    v_sub uuid;
    v_staff uuid;
begin
    if v_claims is null then
        return ops.rls_uuid(nullif(current_setting('hms.staff_id', true), ''));
    end if;
    begin
        v_json := v_claims::jsonb;
    exception when others then
        return null;
    end;
    if jsonb_typeof(v_json) <> 'object' then
        return null;
    end if;
    v_staff := ops.rls_uuid(v_json ->> 'staff_id');
    if v_staff is not null then
        return v_staff;
    end if;
    v_sub := ops.rls_uuid(v_json ->> 'sub');
    if v_sub is null then
        return null;
    end if;
    select s.staff_id into v_staff
      from core.users u
      join core.staff s on s.person_id = u.person_id and s.deleted_at is null
     where u.deleted_at is null
       and (u.user_id = v_sub
            or u.user_id in (select m.canonical_id
                               from ops.legacy_kept k
                               join ops.legacy_id_map m
                                 on m.legacy_table = 'users' and m.legacy_key = k.legacy_key
                                and m.canonical_table = 'core.users' and m.disposition in ('LOADED', 'MERGED')
                              where k.legacy_table = 'users' and k.attrs ->> 'auth_id' = v_sub::text))
     order by (u.user_id = v_sub) desc, s.staff_id
     limit 1;
    return v_staff;
end;
$$;

comment on function ops.current_staff_id() is
    'RLS caller: JWT claim staff_id, else claim sub mapped through core.users -> person -> core.staff (when request.jwt.claims is set); else hms.staff_id';

create or replace function ops.current_person_id()
returns uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select s.person_id from core.staff s where s.staff_id = ops.current_staff_id() and s.deleted_at is null
$$;

comment on function ops.current_person_id() is 'RLS caller: the person of the caller''s live staff row';

create or replace function ops.current_facility_id()
returns uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select d.facility_id
      from core.staff s
      join core.departments d on d.department_id = s.department_id
     where s.staff_id = ops.current_staff_id() and s.deleted_at is null
$$;

comment on function ops.current_facility_id() is 'RLS caller: the facility of the caller''s live staff row (through its department)';

-- === scope of a row (parents looked up as the owner: no policy recursion) ========================
create or replace function ops.rls_encounter(p_encounter_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (
        select 1 from clinical.encounters e
         where e.encounter_id = p_encounter_id
           and (e.facility_id = ops.current_facility_id() or e.attending_doctor_id = ops.current_staff_id()))
$$;

comment on function ops.rls_encounter(uuid) is 'RLS scope: the encounter is in the caller''s facility or the caller attends it';

create or replace function ops.rls_admission(p_admission_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (
        select 1 from inpatient.admissions a
         where a.admission_id = p_admission_id
           and (a.facility_id = ops.current_facility_id() or ops.rls_encounter(a.encounter_id)))
$$;

comment on function ops.rls_admission(uuid) is 'RLS scope: the admission is in the caller''s facility or its encounter is in scope';

create or replace function ops.rls_patient(p_patient_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (
        select 1 from clinical.encounters e
         where e.patient_id = p_patient_id
           and (e.facility_id = ops.current_facility_id() or e.attending_doctor_id = ops.current_staff_id()))
        or exists (
        select 1 from inpatient.admissions a
          join clinical.encounters e on e.encounter_id = a.encounter_id
         where e.patient_id = p_patient_id and a.facility_id = ops.current_facility_id())
$$;

comment on function ops.rls_patient(uuid) is 'RLS scope: the patient has an encounter or admission in the caller''s facility (or attended by the caller)';

create or replace function ops.rls_person(p_person_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select p_person_id = ops.current_person_id()
        or exists (select 1 from core.patients p where p.person_id = p_person_id and ops.rls_patient(p.patient_id))
        or exists (select 1 from core.staff s join core.departments d on d.department_id = s.department_id
                    where s.person_id = p_person_id and d.facility_id = ops.current_facility_id())
$$;

comment on function ops.rls_person(uuid) is 'RLS scope: the caller, a patient in scope, or a colleague of the caller''s facility';

create or replace function ops.rls_lab_order(p_order_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from clinical.lab_orders o where o.order_id = p_order_id and ops.rls_encounter(o.encounter_id))
$$;

comment on function ops.rls_lab_order(uuid) is 'RLS scope: the lab order''s encounter is in scope';

create or replace function ops.rls_lab_item(p_order_item_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from clinical.lab_order_items i where i.order_item_id = p_order_item_id
                      and ops.rls_lab_order(i.order_id))
$$;

comment on function ops.rls_lab_item(uuid) is 'RLS scope: the lab order item''s order is in scope';

create or replace function ops.rls_rx(p_rx_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from pharmacy.prescriptions r where r.rx_id = p_rx_id and ops.rls_encounter(r.encounter_id))
$$;

comment on function ops.rls_rx(uuid) is 'RLS scope: the prescription''s encounter is in scope';

create or replace function ops.rls_rx_line(p_rx_line_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from pharmacy.rx_lines l where l.rx_line_id = p_rx_line_id and ops.rls_rx(l.rx_id))
$$;

comment on function ops.rls_rx_line(uuid) is 'RLS scope: the prescription line''s prescription is in scope';

create or replace function ops.rls_invoice(p_invoice_id uuid)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from billing.invoices i where i.invoice_id = p_invoice_id
                      and (ops.rls_encounter(i.encounter_id) or ops.rls_admission(i.admission_id)))
$$;

comment on function ops.rls_invoice(uuid) is 'RLS scope: the invoice is linked to an encounter or admission in scope';

-- ops.legacy_kept holds legacy values of every kind (PHI included): a row is visible when the
-- canonical row it belongs to is visible to the caller. SECURITY INVOKER on purpose: the lookup runs
-- under the caller's own policies. Tables without a canonical row in scope answer false.
create or replace function ops.rls_kept(p_legacy_table text, p_legacy_key text)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_table text;
    v_id uuid;
    v_pk text;
    v_seen boolean;
begin
    select m.canonical_table, m.canonical_id into v_table, v_id
      from ops.legacy_id_map m
     where m.legacy_table = p_legacy_table and m.legacy_key = p_legacy_key and m.disposition in ('LOADED', 'MERGED')
     order by m.disposition, m.canonical_table
     limit 1;
    if v_table is null or to_regclass(v_table) is null then
        return false;
    end if;
    select a.attname into v_pk
      from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where i.indrelid = to_regclass(v_table) and i.indisprimary and i.indnatts = 1;
    if v_pk is null then
        return false;
    end if;
    begin
        execute format('select exists (select 1 from %s where %I = $1)', to_regclass(v_table), v_pk)
           into v_seen using v_id;
    exception when insufficient_privilege then
        return false;
    end;
    return v_seen;
end;
$$;

comment on function ops.rls_kept(text, text) is
    'RLS scope of ops.legacy_kept: the canonical row the legacy row was loaded into is visible to the caller (invoker rights)';

-- === policies ===================================================================================
-- ops.rls_policy: create the policy, or bring an existing one to the same definition (ALTER keeps
-- its name and oid: re-applying this file changes nothing).
create or replace function ops.rls_policy(p_table regclass, p_name text, p_cmd text, p_role text,
                                          p_using text, p_check text)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_cmd "char";
    v_want "char";
begin
    v_want := case p_cmd when 'SELECT' then 'r' when 'INSERT' then 'a' when 'UPDATE' then 'w'
                         when 'DELETE' then 'd' else '*' end;
    select polcmd into v_cmd from pg_policy where polrelid = p_table and polname = p_name;
    if v_cmd is not null and v_cmd <> v_want then
        execute format('drop policy %I on %s', p_name, p_table);
        v_cmd := null;
    end if;
    if v_cmd is null then
        execute format('create policy %I on %s as permissive for %s to %I%s%s', p_name, p_table, p_cmd, p_role,
                       case when p_using is not null then format(' using (%s)', p_using) else '' end,
                       case when p_check is not null then format(' with check (%s)', p_check) else '' end);
    else
        execute format('alter policy %I on %s to %I%s%s', p_name, p_table, p_role,
                       case when p_using is not null then format(' using (%s)', p_using) else '' end,
                       case when p_check is not null then format(' with check (%s)', p_check) else '' end);
    end if;
end;
$$;

comment on function ops.rls_policy(regclass, text, text, text, text, text) is
    'Create the RLS policy, or alter an existing one to the same definition (idempotent DDL)';

-- The access of each role: table, scope expression (the row is in the caller's scope), and per role
-- the verbs: S/I/U/D = SELECT/INSERT/UPDATE/DELETE on rows in scope, lower case s/i/u/d = on every
-- row. hms_admin has every verb on every row of every table listed. A verb a role lacks gets no
-- grant and no policy. The same matrix as data: hms_pipeline/security/rls.py (ACCESS).
do $$
declare
    t record;
    r record;
    v_role text;
    v_verbs text;
    v_letter text;
    v_cmd text;
    v_expr text;
    v_missing text;
begin
    select string_agg(x, ', ') into v_missing
      from unnest(array['hms_doctor', 'hms_nurse', 'hms_pharmacy', 'hms_billing', 'hms_admin', 'hms_app', 'hms_migrator']) x
     where not exists (select 1 from pg_roles where rolname = x);
    if v_missing is not null then
        raise notice 'hms security: roles % do not exist; grants and policies skipped', v_missing;
        return;
    end if;

    execute 'grant usage on schema core, clinical, inpatient, pharmacy, billing, ops, ref, "view" '
            'to hms_doctor, hms_nurse, hms_pharmacy, hms_billing, hms_admin, hms_migrator';
    execute 'grant all privileges on all tables in schema core, clinical, inpatient, pharmacy, billing, ops, ref to hms_migrator';
    execute 'grant all privileges on all sequences in schema ops to hms_migrator';

    for t in
        select * from (values
            -- table                     scope expression (null: the table has no row scope)
            ('core.facilities',          null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('core.departments',         null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('core.staff_roles',         null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('core.staff',               null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('core.staff_schedules',     null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('core.users',               'person_id = (select ops.current_person_id())',
             'hms_doctor=S hms_nurse=S hms_pharmacy=S hms_billing=S'),
            ('core.persons',             'ops.rls_person(person_id)',
             'hms_doctor=SiU hms_nurse=SiU hms_pharmacy=S hms_billing=S'),
            ('core.patients',            'ops.rls_patient(patient_id)',
             'hms_doctor=SiU hms_nurse=SiU hms_pharmacy=S hms_billing=S'),
            ('clinical.appointments',    'facility_id = (select ops.current_facility_id()) or doctor_id = (select ops.current_staff_id())',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.encounters',      'facility_id = (select ops.current_facility_id()) or attending_doctor_id = (select ops.current_staff_id())',
             'hms_doctor=SIU hms_nurse=SIU hms_pharmacy=S hms_billing=S'),
            ('clinical.vitals',          'ops.rls_encounter(encounter_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.symptoms',        'ops.rls_encounter(encounter_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.allergies',       'ops.rls_patient(patient_id)',
             'hms_doctor=SIU hms_nurse=SIU hms_pharmacy=S'),
            ('clinical.medical_history', 'ops.rls_patient(patient_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.lab_tests',       null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('clinical.lab_orders',      'ops.rls_encounter(encounter_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.lab_order_items', 'ops.rls_lab_order(order_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('clinical.lab_results',     'ops.rls_lab_item(order_item_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('inpatient.wards',          null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('inpatient.beds',           null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s'),
            ('inpatient.admissions',     'facility_id = (select ops.current_facility_id()) or ops.rls_encounter(encounter_id)',
             'hms_doctor=SIU hms_nurse=SIU hms_billing=S'),
            ('inpatient.bed_allocations', 'ops.rls_admission(admission_id)',
             'hms_doctor=SIU hms_nurse=SIU'),
            ('pharmacy.items',           null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=siu hms_billing=s'),
            ('pharmacy.batches',         null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=siu hms_billing=s'),
            ('pharmacy.inventory_txns',  'facility_id = (select ops.current_facility_id())',
             'hms_doctor=S hms_nurse=S hms_pharmacy=SI hms_billing=S'),
            ('pharmacy.prescriptions',   'ops.rls_encounter(encounter_id)',
             'hms_doctor=SIU hms_nurse=S hms_pharmacy=SU'),
            ('pharmacy.rx_lines',        'ops.rls_rx(rx_id)',
             'hms_doctor=SIU hms_nurse=S hms_pharmacy=SU'),
            ('pharmacy.dispenses',       'ops.rls_rx_line(rx_line_id)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=SIU'),
            ('billing.fee_schedules',    null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=siu'),
            ('billing.fee_rates',        null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=siu'),
            ('billing.charges',          'ops.rls_encounter(encounter_id) or ops.rls_admission(admission_id)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=SI hms_billing=siud'),
            ('billing.invoices',         'ops.rls_encounter(encounter_id) or ops.rls_admission(admission_id)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=S hms_billing=siud'),
            ('billing.invoice_lines',    'ops.rls_invoice(invoice_id)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=S hms_billing=siud'),
            ('billing.payments',         'ops.rls_invoice(invoice_id)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=S hms_billing=siud'),
            ('ops.attachments',          null,
             ''),
            ('ops.legacy_kept',          'ops.rls_kept(legacy_table, legacy_key)',
             'hms_doctor=S hms_nurse=S hms_pharmacy=S hms_billing=S'),
            ('ref.codes',                null,
             'hms_doctor=s hms_nurse=s hms_pharmacy=s hms_billing=s')
        ) as x (tbl, scope, access)
    loop
        if to_regclass(t.tbl) is null then
            continue;
        end if;
        -- hms_admin: every verb on every row (the ledger's UPDATE/DELETE stay refused by its trigger
        -- and are not granted).
        if t.tbl = 'pharmacy.inventory_txns' then
            execute format('grant select, insert on %s to hms_admin', t.tbl);
        else
            execute format('grant select, insert, update, delete on %s to hms_admin', t.tbl);
        end if;
        perform ops.rls_policy(t.tbl::regclass, 'hms_admin_all', 'ALL', 'hms_admin', 'true', 'true');
        for r in select split_part(a, '=', 1) as role, split_part(a, '=', 2) as verbs
                   from unnest(string_to_array(nullif(t.access, ''), ' ')) a loop
            foreach v_letter in array array['s', 'i', 'u', 'd'] loop
                v_cmd := case v_letter when 's' then 'SELECT' when 'i' then 'INSERT' when 'u' then 'UPDATE' else 'DELETE' end;
                if position(v_letter in r.verbs) > 0 then
                    v_expr := 'true';
                elsif position(upper(v_letter) in r.verbs) > 0 then
                    v_expr := t.scope;
                else
                    continue;
                end if;
                execute format('grant %s on %s to %I', v_cmd, t.tbl, r.role);
                perform ops.rls_policy(t.tbl::regclass, format('%s_%s', r.role, lower(v_cmd)), v_cmd, r.role,
                                       case when v_cmd <> 'INSERT' then v_expr end,
                                       case when v_cmd in ('INSERT', 'UPDATE') then v_expr end);
            end loop;
        end loop;
    end loop;

    -- Provenance (legacy keys -> canonical ids, no values) is read by the compatibility views.
    execute 'grant select on ops.legacy_id_map to hms_doctor, hms_nurse, hms_pharmacy, hms_billing, hms_admin';
    -- Reporting views: the two plain views read through the caller's policies (security_invoker);
    -- stock on hand (no PHI, a materialized view: no RLS) is readable by every role.
    execute 'alter view "view".active_admissions set (security_invoker = true)';
    execute 'alter view "view".billing_summary set (security_invoker = true)';
    execute 'grant select on "view".active_admissions to hms_doctor, hms_nurse, hms_admin';
    execute 'grant select on "view".billing_summary to hms_billing, hms_admin';
    execute 'grant select on "view".stock_on_hand to hms_doctor, hms_nurse, hms_pharmacy, hms_billing, hms_admin';
end
$$;
