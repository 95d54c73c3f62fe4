-- Migration provenance. Outside checks query these two tables by column name: they have EXACTLY
-- these columns (so, unlike the other tables, no principle-6 columns and no updated_at trigger;
-- first_seen_at/last_seen_at/resolved_at and mapped_at carry the timing).

-- Grain: one row per (legacy row, canonical table) the migration mapped: the legacy key, the
-- canonical row it became (LOADED) or was merged into (MERGED), and the run that mapped it.
-- Partitioned by canonical table (one partition per table, etl.id_map_<schema>__<table>, created by
-- etl.id_map_partition() in 093): each table's rows and indexes stay apart, so the first load of a
-- table builds its partition's indexes once instead of inserting into two indexes of the whole map
-- row by row (measured at 100k patients: 1M vitals map rows 13 s row by row, 3 s built).
-- A map created before it was partitioned is renamed here and moved into the partitions by 093.
do $$
begin
    if (select c.relkind from pg_class c where c.oid = to_regclass('ops.legacy_id_map')) = 'r' then
        alter table ops.legacy_id_map rename to legacy_id_map_unpartitioned;
        alter index if exists ops.legacy_id_map_legacy_table_legacy_key_canonical_table_key
            rename to legacy_id_map_unpartitioned_key;
        alter index if exists ops.idx_legacy_id_map_canonical rename to idx_legacy_id_map_unpartitioned;
    end if;
end
$$;
create table if not exists ops.legacy_id_map (
    legacy_table text not null,
    legacy_key text not null,
    canonical_table text not null,
    canonical_id uuid not null,
    disposition text not null check (disposition in ('LOADED', 'MERGED')),
    run_id text not null,
    mapped_at timestamptz not null default now(),
    unique (legacy_table, legacy_key, canonical_table)
) partition by list (canonical_table);
-- Reverse lookup: which legacy rows became (or merged into) this canonical row.
create index if not exists idx_legacy_id_map_canonical on ops.legacy_id_map (canonical_table, canonical_id);

-- Grain: one row per (legacy row, target table, reason) the migration refused to load. Upserted
-- on every run: first_seen_at stays, last_seen_at/run_id move, resolved_at is set once the row
-- loads.
create table if not exists ops.quarantine (
    legacy_table text not null,
    legacy_key text not null,
    target_table text not null,
    reason_code text not null,
    detail jsonb not null default '{}'::jsonb,
    run_id text not null,
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    resolved_at timestamptz,
    unique (legacy_table, legacy_key, target_table, reason_code)
);

comment on column ops.quarantine.detail is
    'Why the row was refused (rule, column names, non-identifying values). Must carry no names, phones, emails or dates of birth: identify the row by legacy_table/legacy_key only.';
