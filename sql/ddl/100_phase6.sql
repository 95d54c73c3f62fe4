-- Phase 6 (issue #14): the teardown of the legacy archive, its backups, and the monitors' history.
-- Idempotent: re-applying changes nothing.

-- Grain: one row per backup of the archived legacy tables taken by `cutover teardown`
-- (hms_pipeline/compat/teardown.py): where it is, its format ('pg_dump': a custom-format archive of
-- the archive schema; 'copy': one CSV per table), the tables, and per table the row count and the
-- md5 of its ordered row texts when taken. verified_at is set once the backup was restored into the
-- scratch schema legacy_backup_check and every table's count and checksum matched.
create table if not exists compat.backups (
    backup_id bigint generated always as identity primary key,
    path text not null,
    format text not null check (format in ('pg_dump', 'copy')),
    archive_schema text not null,
    taken_at timestamptz not null default now(),
    tables text[] not null,
    checksums jsonb not null default '{}'::jsonb,
    verified_at timestamptz,
    verification jsonb not null default '{}'::jsonb
);

-- Grain: one row per spot check of the backfill (the cutover checklist): how many legacy rows were
-- sampled and compared field by field with what the canonical tables answer for them (through the
-- compatibility view bodies), and how many fields differed (explained by a documented normalisation
-- or not). Counts and table/column names only, never a value.
create table if not exists compat.spot_checks (
    spot_check_id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    seed bigint not null,
    tables integer not null,
    rows_compared integer not null,
    fields_compared integer not null,
    explained integer not null,
    unexplained integer not null,
    unexplained_columns text[] not null default '{}'
);

-- Grain: one row per monitor per run (hms_pipeline/lib/monitors.py): its figure, threshold and
-- verdict. The quarantine-growth monitor compares with its previous row.
create table if not exists etl.monitor_runs (
    monitor_run_id bigint generated always as identity primary key,
    name text not null,
    figure numeric not null,
    threshold numeric not null,
    ok boolean not null,
    detail jsonb not null default '{}'::jsonb,
    at timestamptz not null default clock_timestamp()
);
create index if not exists idx_monitor_runs_name on etl.monitor_runs (name, monitor_run_id);
