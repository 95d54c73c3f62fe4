-- Phase 3, the compatibility layer (issue #13): what the old application reads and writes through
-- views with the legacy names once `hms-pipeline cutover compat` has moved the legacy tables to an
-- archive schema. The views themselves are created by the switch (hms_pipeline/compat/views.py, one
-- body per legacy table in sql/compat/<table>.sql); this file holds what exists before and after.

create schema if not exists compat;

-- Grain: one row per legacy row with at least one "kept" column (mappings/columns.csv, target
-- ops.legacy_kept.attrs->'<column>') or a column the contract does not know (drift): the legacy
-- values the canonical model has no column for, keyed by the legacy key; ops.legacy_id_map gives the
-- canonical row. Filled from stg by the backfill (hms_pipeline/compat/kept.py), then by the compat
-- views' write path. Holds no value of a mapped column.
create table if not exists ops.legacy_kept (
    legacy_table text not null,
    legacy_key text not null,
    attrs jsonb not null default '{}'::jsonb,
    updated_at timestamptz not null default now(),
    primary key (legacy_table, legacy_key)
);

-- Grain: one row per legacy table whose kept values were copied from stg: the last staged change
-- copied (the next copy reads only later changes).
create table if not exists compat.kept_progress (
    legacy_table text primary key,
    change_seq bigint not null,
    columns text[] not null,
    updated_at timestamptz not null default now()
);

-- Grain: one row per legacy table: which of its columns the kept store holds (the write path copies
-- exactly these from a written row). Written by the kept copy and by the switch.
create table if not exists compat.kept_columns (
    legacy_table text primary key,
    columns text[] not null
);

-- Grain: one row per switch or rollback: what moved, when, and how long the application's writes
-- were blocked. The latest row says where the migration stands.
create table if not exists compat.cutover_events (
    event_id bigint generated always as identity primary key,
    action text not null check (action in ('compat', 'rollback', 'teardown')),
    legacy_schema text not null,
    archive_schema text not null,
    tables text[] not null,
    views text[] not null,
    legacy_views jsonb not null default '{}'::jsonb,
    lock_ms numeric not null,
    summary jsonb not null default '{}'::jsonb,
    at timestamptz not null default now()
);

-- Grain: one row per write the application made through a compatibility view: its table, operation,
-- legacy key and outcome (APPLIED in canonical, or QUARANTINED with the archived row kept). No values.
create table if not exists compat.writes (
    write_id bigint generated always as identity primary key,
    legacy_table text not null,
    op text not null check (op in ('INSERT', 'UPDATE', 'DELETE')),
    legacy_key text,
    outcome text not null check (outcome in ('APPLIED', 'QUARANTINED')),
    reason_code text,
    at timestamptz not null default clock_timestamp()
);
create index if not exists idx_writes_table on compat.writes (legacy_table, legacy_key);

-- The write path of every compatibility view (an INSTEAD OF trigger, one per view). Arguments: the
-- archive schema, the legacy key column. For each write it
--   1. writes the row into the archived legacy table (the one-way dual write that lets a rollback
--      lose nothing), taking the table's defaults (the view carries them) and returning the full row;
--   2. copies the row's kept columns into ops.legacy_kept;
--   3. calls compat.apply_<table>(op, key, new row, old row) (sql/compat/<table>.write.sql), which
--      writes the canonical rows and their provenance. When there is no such function or it raises,
--      the write is quarantined (COMPAT_UNMAPPED / COMPAT_WRITE_REJECTED, with the SQLSTATE and the
--      constraint, never a value): the archived row stays and the view shows it from there.
-- The application's write never fails for a mapping reason: the legacy database accepted it too.
create or replace function compat.dispatch()
returns trigger
language plpgsql
as $$
declare
    v_archive text := tg_argv[0];
    v_key_col text := tg_argv[1];
    v_table text := tg_table_name;
    v_rel regclass;
    v_cols text;
    v_new jsonb;
    v_old jsonb;
    v_key text;
    v_kept text[];
    v_state text;
    v_constraint text;
    v_column text;
    v_reason text;
begin
    v_rel := format('%I.%I', v_archive, v_table)::regclass;
    select string_agg(quote_ident(a.attname), ', ' order by a.attnum)
      into v_cols
      from pg_attribute as a
     where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';

    if tg_op = 'INSERT' then
        execute format('insert into %s as a (%s) select %s from jsonb_populate_record(null::%s, $1) returning to_jsonb(a.*)',
                       v_rel, v_cols, v_cols, v_rel)
           into v_new using to_jsonb(new);
    elsif tg_op = 'UPDATE' then
        v_old := to_jsonb(old);
        execute format('update %s as a set (%s) = (select %s from jsonb_populate_record(null::%s, $1)) '
                       'where a.%I::text = $2 returning to_jsonb(a.*)', v_rel, v_cols, v_cols, v_rel, v_key_col)
           into v_new using to_jsonb(new), v_old ->> v_key_col;
        v_new := coalesce(v_new, to_jsonb(new));
    else
        v_old := to_jsonb(old);
        execute format('delete from %s as a where a.%I::text = $1', v_rel, v_key_col) using v_old ->> v_key_col;
    end if;
    v_key := coalesce(v_new ->> v_key_col, v_old ->> v_key_col);

    select k.columns into v_kept from compat.kept_columns as k where k.legacy_table = v_table;
    if v_new is not null and cardinality(v_kept) > 0 then
        insert into ops.legacy_kept as k (legacy_table, legacy_key, attrs)
        select v_table, v_key, coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
          from jsonb_each(v_new) as e
         where e.key = any (v_kept)
        on conflict (legacy_table, legacy_key)
        do update set attrs = excluded.attrs, updated_at = now()
        where k.attrs is distinct from excluded.attrs;
    end if;

    begin
        if to_regprocedure(format('compat.%I(text, text, jsonb, jsonb)', 'apply_' || v_table)) is null then
            raise exception 'compat %: no write path for this table (rule COMPAT_UNMAPPED)', v_table
                using errcode = 'HM001';
        end if;
        execute format('select compat.%I($1, $2, $3, $4)', 'apply_' || v_table) using tg_op, v_key, v_new, v_old;
        update ops.quarantine as q
           set resolved_at = now()
         where q.legacy_table = v_table and q.legacy_key = v_key and q.resolved_at is null and q.target_table = 'compat';
        insert into compat.writes (legacy_table, op, legacy_key, outcome) values (v_table, tg_op, v_key, 'APPLIED');
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_constraint = constraint_name, v_column = column_name;
        v_reason := case when v_state = 'HM001' then 'COMPAT_UNMAPPED' else 'COMPAT_WRITE_REJECTED' end;
        insert into ops.quarantine as q (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
        values (v_table, v_key, 'compat', v_reason,
                jsonb_strip_nulls(jsonb_build_object('op', tg_op, 'sqlstate', v_state,
                                                     'constraint', nullif(v_constraint, ''), 'column', nullif(v_column, ''))),
                'compat')
        on conflict (legacy_table, legacy_key, target_table, reason_code)
        do update set detail = excluded.detail, last_seen_at = now(), resolved_at = null, run_id = 'compat';
        insert into compat.writes (legacy_table, op, legacy_key, outcome, reason_code)
        values (v_table, tg_op, v_key, 'QUARANTINED', v_reason);
    end;

    if tg_op = 'DELETE' then
        return old;
    end if;
    new := jsonb_populate_record(new, v_new);
    return new;
end
$$;

comment on function compat.dispatch() is
    'INSTEAD OF trigger of every compatibility view: dual write to the archived legacy table, kept store, then compat.apply_<table> (quarantined when it has none or it raises)';
