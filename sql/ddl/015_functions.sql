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

-- The generic row audit, ops.audit_row(), and its triggers on every canonical table are in
-- 099_audit.sql (phase 5: created after every table, with the PHI columns each table masks).
