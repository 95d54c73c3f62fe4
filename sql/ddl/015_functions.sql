-- Shared trigger functions (plpgsql: bodies are resolved at call time, so ops.audit_log may be
-- created by a later file).

-- Principle 6: updated_at moves only when the row really changed.
-- The pipeline's idempotent upserts (insert ... on conflict do update) rewrite every row on a
-- re-run; "no change => updated_at does not move" lets a second run be verified as a no-op.
-- The rows are compared as jsonb without updated_at (which the trigger owns on UPDATE: an
-- explicit value is replaced by now() or by the old value) and without the columns named in the
-- trigger arguments. Stored generated columns must be named there: they are NULL in NEW during a
-- BEFORE trigger and would otherwise make every update look like a change
-- (billing.charges attaches it as ops.set_updated_at('total')).
create or replace function ops.set_updated_at()
returns trigger
language plpgsql
as $$
declare
    ignored text[] := array['updated_at'] || coalesce(tg_argv::text[], '{}'::text[]);
begin
    if (to_jsonb(new) - ignored) is distinct from (to_jsonb(old) - ignored) then
        new.updated_at := now();
    else
        new.updated_at := old.updated_at;
    end if;
    return new;
end;
$$;

comment on function ops.set_updated_at() is
    'BEFORE UPDATE row trigger: updated_at = now() only when the row changed (args: generated columns to ignore)';

-- Generic row audit (principle 7). Created here, attached later: the blueprint's phase 5 turns
-- audit triggers on table by table (as AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW).
-- Runs with the caller's rights; phase 5 decides grants / security definer together with RLS.
-- No-op updates (nothing changed but updated_at) are not logged.
create or replace function ops.audit_row()
returns trigger
language plpgsql
as $$
declare
    v_before jsonb;
    v_after jsonb;
    v_pk jsonb;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        v_before := to_jsonb(old);
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        v_after := to_jsonb(new);
    end if;
    if tg_op = 'UPDATE' and (v_before - 'updated_at') = (v_after - 'updated_at') then
        return coalesce(new, old);
    end if;

    select jsonb_object_agg(a.attname, coalesce(v_after, v_before) -> a.attname::text)
      into v_pk
      from pg_catalog.pg_index i
      join pg_catalog.pg_attribute a
        on a.attrelid = i.indrelid
       and a.attnum = any (i.indkey)
     where i.indrelid = tg_relid
       and i.indisprimary;

    insert into ops.audit_log (actor_user_id, action, table_name, pk, before, after)
    values (
        nullif(current_setting('hms.actor_user_id', true), '')::uuid,
        tg_op,
        tg_table_schema || '.' || tg_table_name,
        v_pk,
        v_before,
        v_after
    );
    -- Ignored for AFTER triggers; lets the row through if someone attaches it BEFORE.
    return coalesce(new, old);
end;
$$;

comment on function ops.audit_row() is
    'AFTER row trigger writing INSERT/UPDATE/DELETE images to ops.audit_log (attached in blueprint phase 5)';
