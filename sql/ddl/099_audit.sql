-- Phase 5 audit (issue #14, blueprint principle 7): every write to a canonical table is recorded in
-- ops.audit_log (the blueprint's exact shape: at, actor_user_id, action, table_name, pk, before,
-- after), with the PHI columns hashed, and the log is append-only.
--
-- What is audited: every table (relkind r/p, not a partition) of the schemas core, clinical,
-- inpatient, pharmacy, billing, ref and ops, found in the catalog when this file is applied (a new
-- table gets its trigger on the next schema phase; hms_pipeline.security.audit.tables_without_audit
-- lists any table without one). Not audited, on purpose:
--   ops.audit_log      the log itself (append-only, see below);
--   ops.legacy_id_map  the pipeline's provenance (partitioned; one row per legacy row per run is
--   ops.quarantine     already the migration's own journal); the quarantine and the kept store
--   ops.legacy_kept    (legacy values, PHI included) are written by the pipeline and the compat
--                      write path only, each write of which also writes an audited canonical row.
--
-- One row per changed row: action INSERT / UPDATE / DELETE (an UPDATE that changes nothing but
-- updated_at is not logged), table_name 'schema.table', pk = the primary key columns (read from the
-- catalog when the trigger is created, passed as its first argument), before/after = the row images
-- as jsonb with the table's PHI columns (second argument) replaced by 'sha256:<24 hex>', a keyed hash
-- (key: etl.audit_key, random per database, readable by its owner only): a reviewer sees that a
-- value changed, and equal values hash equally, but the value cannot be read back or guessed from a
-- dictionary of phone numbers without the key.
--
-- Actor (actor_user_id, ops.audit_actor()), with the precedence of ops.current_staff_id()
-- (098_security.sql) but from the settings only (no table read, no subtransaction per row): when
-- request.jwt.claims is set (Supabase/PostgREST), its top-level claim staff_id if it is a uuid, else
-- its claim sub (the auth user id: "staff or user id"), and the session settings are then NOT read
-- (a request cannot name another actor); otherwise the setting hms.staff_id (the application sets
-- it per transaction), else hms.actor_user_id (an earlier setting). A value that is not a uuid gives
-- NULL, never an error. The claims are PostgREST's JSON; they are not re-validated here.
--
-- The migration's own writes are not logged row by row: the backfill engine sets
-- hms.audit_bulk = <run id> for the transaction of each table (hms_pipeline/engine/audit_bulk.py)
-- and the triggers' WHEN clause skips the row (no function call); the engine then writes one
-- MIGRATION_BULK row per table per run that wrote rows (counts only; provenance holds the rows).
-- The setting is honoured only for a member of the table's owner (the pipeline connects as the
-- owner, who could disable the trigger anyway): any other role that sets it is still audited row by
-- row. The WHEN clause tests the setting first, so an ordinary write pays two current_setting()
-- calls and no role lookup.
--
-- PHI columns (data: the jsonb constant phi in the DO block at the end; every column named
-- legacy_attributes is masked too, it holds legacy values of any kind):
--   core.persons         first_name, last_name, dob, phone, email, address
--   core.users           email
--   core.patients        uhid (medical record number)
--   core.staff           license_no
--   clinical.allergies, clinical.medical_history, clinical.symptoms   description (free text)
--   clinical.lab_results value, ref_range (free text)
--   inpatient.admissions reason (free text)
--   pharmacy.prescriptions instructions, diagnosis, notes (free text)
--   pharmacy.rx_lines    instructions (free text)
--   billing.invoice_lines description (free text)
--   billing.payments     ref_no (payment reference: card/UPI/account number)
--   ops.attachments      url (file names often carry the patient's name)
-- Not PHI here: sex (no identifier on its own), facility/department/ward/item names, codes, amounts,
-- statuses, timestamps (the log's own purpose is to say when).

-- The hash key: one random value per database, created once (re-applying keeps it).
create table if not exists etl.audit_key (
    id boolean primary key default true check (id),
    salt text not null
);
insert into etl.audit_key (salt)
select md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text)
on conflict (id) do nothing;
revoke all on etl.audit_key from public;

-- Actor of the current write (see the header). Cheap: settings only, no table read.
create or replace function ops.audit_actor()
returns uuid
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_claims text := nullif(current_setting('request.jwt.claims', true), '');
    v_json jsonb;
    v_actor text;
begin
    if v_claims is not null then
        v_json := v_claims::jsonb;
        v_actor := coalesce(
            case when (v_json ->> 'staff_id') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                 then v_json ->> 'staff_id' end,
            v_json ->> 'sub');
    else
        v_actor := coalesce(nullif(current_setting('hms.staff_id', true), ''),
                            nullif(current_setting('hms.actor_user_id', true), ''));
    end if;
    if v_actor ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        return v_actor::uuid;
    end if;
    return null;
end;
$$;

comment on function ops.audit_actor() is
    'Actor of an audited write: JWT claim staff_id or sub when request.jwt.claims is set, else hms.staff_id, else hms.actor_user_id; NULL unless a uuid';

-- p_row with the columns p_cols (those present and not null) replaced by a keyed hash of the value.
create or replace function ops.audit_mask(p_row jsonb, p_cols text[], p_key text)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
    select p_row || coalesce(
        (select jsonb_object_agg(c, 'sha256:' || left(encode(sha256(convert_to(p_key || '|' || (p_row ->> c), 'UTF8')), 'hex'), 24))
           from unnest(p_cols) as c
          where p_row ? c and jsonb_typeof(p_row -> c) <> 'null'),
        '{}'::jsonb)
$$;

comment on function ops.audit_mask(jsonb, text[], text) is
    'Audit row image with the PHI columns replaced by sha256:<24 hex> of the keyed value (ops.audit_row)';

-- Generic row audit (principle 7), attached by the DO block below as
--   AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW WHEN (hms.audit_bulk unset)
--   EXECUTE FUNCTION ops.audit_row('<pk col>,<pk col>', '<phi col>,<phi col>').
-- SECURITY DEFINER: the application's roles write the log only through it (they need no grant on
-- ops.audit_log, so they cannot forge or read it) and it reads the hash key.
create or replace function ops.audit_row()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_before jsonb;
    v_after jsonb;
    v_row jsonb;
    v_pk jsonb;
    v_phi text[];
    v_key text;
begin
    if tg_nargs < 2 then
        raise exception 'ops.audit_row() on %.%: attach it with its arguments (primary key columns, PHI columns), as sql/ddl/099_audit.sql does',
            tg_table_schema, tg_table_name
            using errcode = 'invalid_parameter_value';
    end if;
    if tg_op <> 'INSERT' then
        v_before := to_jsonb(old);
    end if;
    if tg_op <> 'DELETE' then
        v_after := to_jsonb(new);
    end if;
    if tg_op = 'UPDATE' and (v_before - 'updated_at') = (v_after - 'updated_at') then
        return coalesce(new, old);
    end if;

    v_row := coalesce(v_after, v_before);
    select jsonb_object_agg(c, v_row -> c)
      into v_pk
      from unnest(string_to_array(nullif(tg_argv[0], ''), ',')) as c;

    v_phi := string_to_array(nullif(tg_argv[1], ''), ',');
    if v_phi is not null then
        select salt into v_key from etl.audit_key;
        v_key := coalesce(v_key, '');
        if v_before is not null then
            v_before := ops.audit_mask(v_before, v_phi, v_key);
        end if;
        if v_after is not null then
            v_after := ops.audit_mask(v_after, v_phi, v_key);
        end if;
    end if;

    insert into ops.audit_log (actor_user_id, action, table_name, pk, before, after)
    values (ops.audit_actor(), tg_op, tg_table_schema || '.' || tg_table_name, v_pk, v_before, v_after);
    -- Ignored for AFTER triggers; lets the row through if someone attaches it BEFORE.
    return coalesce(new, old);
end;
$$;

comment on function ops.audit_row() is
    'AFTER row trigger writing INSERT/UPDATE/DELETE images (PHI columns hashed) to ops.audit_log; args: pk columns, PHI columns (099_audit.sql)';

-- Append-only: any UPDATE, DELETE or TRUNCATE of the log is refused, whoever runs it (even with 0
-- rows: statement level). A deliberate purge needs ALTER TABLE ... DISABLE TRIGGER, itself visible.
create or replace function ops.audit_log_append_only()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'ops.audit_log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege',
              schema = 'ops',
              table = 'audit_log',
              hint = 'Audit rows are never changed or removed; corrections are new rows.';
end;
$$;

comment on function ops.audit_log_append_only() is
    'BEFORE UPDATE/DELETE/TRUNCATE statement trigger on ops.audit_log: refuses (the log is append-only)';

create or replace trigger trg_audit_log_append_only
    before update or delete or truncate on ops.audit_log
    for each statement execute function ops.audit_log_append_only();

-- Attach ops.audit_row() to every canonical table (idempotent: CREATE OR REPLACE TRIGGER with the
-- same definition changes nothing). The PHI list is checked: a listed column that does not exist
-- fails the schema phase (a typo would leave a column unmasked).
do $$
declare
    phi constant jsonb := '{
        "core.persons": ["first_name", "last_name", "dob", "phone", "email", "address"],
        "core.users": ["email"],
        "core.patients": ["uhid"],
        "core.staff": ["license_no"],
        "clinical.allergies": ["description"],
        "clinical.medical_history": ["description"],
        "clinical.symptoms": ["description"],
        "clinical.lab_results": ["value", "ref_range"],
        "inpatient.admissions": ["reason"],
        "pharmacy.prescriptions": ["instructions", "diagnosis", "notes"],
        "pharmacy.rx_lines": ["instructions"],
        "billing.invoice_lines": ["description"],
        "billing.payments": ["ref_no"],
        "ops.attachments": ["url"]
    }';
    skipped constant text[] := array['ops.audit_log', 'ops.legacy_id_map', 'ops.quarantine', 'ops.legacy_kept'];
    r record;
    v_pk text;
    v_phi text;
begin
    for r in
        select t.key as tbl, c as col
          from jsonb_each(phi) as t, jsonb_array_elements_text(t.value) as c
         where not exists (select 1 from pg_catalog.pg_attribute a
                            where a.attrelid = to_regclass(t.key) and a.attname = c
                              and a.attnum > 0 and not a.attisdropped)
    loop
        raise exception '099_audit.sql: PHI column %.% does not exist (fix the list)', r.tbl, r.col;
    end loop;

    for r in
        select c.oid, n.nspname, c.relname, n.nspname || '.' || c.relname as name, pg_get_userbyid(c.relowner) as owner
          from pg_catalog.pg_class c
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname in ('core', 'clinical', 'inpatient', 'pharmacy', 'billing', 'ref', 'ops')
           and c.relkind in ('r', 'p')
           and not c.relispartition
           and n.nspname || '.' || c.relname <> all (skipped)
         order by 4
    loop
        select string_agg(a.attname, ',' order by array_position(i.indkey::int2[], a.attnum))
          into v_pk
          from pg_catalog.pg_index i
          join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
         where i.indrelid = r.oid and i.indisprimary;
        select string_agg(col, ',' order by col)
          into v_phi
          from (select jsonb_array_elements_text(coalesce(phi -> r.name, '[]')) as col
                union
                select a.attname from pg_catalog.pg_attribute a
                 where a.attrelid = r.oid and a.attname = 'legacy_attributes' and a.attnum > 0 and not a.attisdropped) p;
        execute format(
            'create or replace trigger trg_audit_row after insert or update or delete on %I.%I for each row'
            ' when (current_setting(''hms.audit_bulk'', true) is null or current_setting(''hms.audit_bulk'', true) = '''''
            ' or not pg_has_role(%L, ''MEMBER''))'
            ' execute function ops.audit_row(%L, %L)',
            r.nspname, r.relname, r.owner, coalesce(v_pk, ''), coalesce(v_phi, ''));
    end loop;
end;
$$;
