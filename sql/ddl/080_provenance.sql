-- Migration provenance. Outside checks query these two tables by column name: they have EXACTLY
-- these columns (so, unlike the other tables, no principle-6 columns and no updated_at trigger;
-- first_seen_at/last_seen_at/resolved_at and mapped_at carry the timing).

-- Grain: one row per (legacy row, canonical table) the migration mapped: the legacy key, the
-- canonical row it became (LOADED) or was merged into (MERGED), and the run that mapped it.
create table if not exists ops.legacy_id_map (
    legacy_table text not null,
    legacy_key text not null,
    canonical_table text not null,
    canonical_id uuid not null,
    disposition text not null check (disposition in ('LOADED', 'MERGED')),
    run_id text not null,
    mapped_at timestamptz not null default now(),
    unique (legacy_table, legacy_key, canonical_table)
);
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
