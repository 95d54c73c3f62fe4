-- Migration engine state (not blueprint tables): schemas stg (staged legacy rows) and etl
-- (watermarks, progress, per-run figures).
-- Idempotent like the rest of sql/ddl/.

-- stg: the legacy rows a backfill run works from, refreshed in ONE repeatable-read transaction per
-- run (so every asset of a run sees the legacy side as of one moment). One table per legacy table,
-- created by the engine with the legacy columns plus:
--   _key text primary key   legacy primary key as text
--   _hash text              md5 of the legacy row, to tell a real change from a touch
--   _change_seq bigint      etl.stage_seq value of the last change (insert, update or delete)
--   _deleted boolean        the legacy row disappeared (its canonical rows get soft-deleted)
--   _xmin bigint            the legacy row version (xmin) last staged, same-database sweeps only:
--                           a row whose xmin is unchanged is not hashed again (engine/staging.py)
create schema if not exists stg;
-- etl: the engine's own state (kept apart from the blueprint's schemas).
create schema if not exists etl;

create sequence if not exists etl.stage_seq;

-- Deterministic canonical ids: the same (canonical table, legacy table, legacy key) always gives
-- the same uuid, so a re-run (or a run on another server) produces the same ids.
create or replace function etl.canonical_id(canonical_table text, legacy_table text, legacy_key text)
returns uuid
language sql
immutable
parallel safe
as $$ select md5(canonical_table || '|' || legacy_table || '|' || legacy_key)::uuid $$;

-- One row per backfill snapshot (staging step of a run).
create table if not exists etl.stage_runs (
    run_id text primary key,
    mode text not null check (mode in ('same-database', 'separate-server')),
    full_refresh boolean not null,
    snapshot_seq bigint not null,
    tables_staged integer not null,
    rows_changed bigint not null,
    rows_deleted bigint not null,
    started_at timestamptz not null,
    finished_at timestamptz not null default now()
);

-- One row per backfill run: the state it started from (hms_pipeline/engine/probe.py: the legacy and
-- canonical relations' storage, columns and write counters, the pipeline's files, its settings),
-- marked succeeded_at when the run succeeded. Equal to the latest successful run's: nothing to do
-- (hms-pipeline run --if-changed, the backfill_deltas schedule).
create table if not exists etl.change_probe (
    run_id text primary key,
    fingerprint text not null,
    recorded_at timestamptz not null default now(),
    succeeded_at timestamptz
);

-- Legacy-side watermark per source table: the highest updated_at/created_at staged so far.
-- The next run re-reads rows from (high_value - overlap) and compares row hashes.
create table if not exists etl.watermarks (
    legacy_table text primary key,
    column_name text not null,
    high_value timestamptz,
    run_id text not null,
    updated_at timestamptz not null default now()
);

-- Canonical-side progress: the stg change sequence each canonical table has applied.
create table if not exists etl.apply_state (
    canonical_table text primary key,
    applied_seq bigint not null,
    run_id text not null,
    updated_at timestamptz not null default now()
);

-- Figures per run and canonical table (the CLI summary and the reports read them).
create table if not exists etl.run_stats (
    run_id text not null,
    canonical_table text not null,
    candidates bigint not null,
    written bigint not null,
    unchanged bigint not null,
    quarantined bigint not null,
    merged bigint not null,
    soft_deleted bigint not null,
    seconds numeric(10, 3) not null,
    recorded_at timestamptz not null default now(),
    primary key (run_id, canonical_table)
);

-- Normalized person name for matching free-text doctor names (attending doctor, doctor_name,
-- consulting_doctor_name) to staff and duplicate registrations to each other: Unicode NFKC (the
-- composed form, compatibility variants folded: an NFD spelling equals its NFC one, a full-width
-- 'Ｐ' is 'P'), lower case (ASCII always; other letters as the database's LC_CTYPE folds them),
-- honorifics (dr, mr, mrs, ms, prof) and punctuation removed, whitespace collapsed. Letters of
-- every script are kept (a Tamil, Devanagari or accented name is compared as written); ASCII
-- digits and punctuation, Unicode spaces and the general punctuation blocks become blanks. A name
-- that is only an honorific is NULL (never matches). An exact match on this form is a resolution;
-- anything else stays unresolved (FK NULL, counted) rather than guessed.
create or replace function etl.norm_name(name text)
returns text
language sql
immutable
parallel safe
as $$
    select nullif(trim(regexp_replace(
        regexp_replace(
            case when octet_length(name) = length(name)  -- ASCII only (the usual case): no Unicode work
                 then regexp_replace(lower(name), '[^a-z ]+', ' ', 'g')
                 else regexp_replace(lower(normalize(name, NFKC)),
                                     '([^a-z\u0080-\U0010ffff]|[\u0080-\u00bf\u1680\u2000-\u206f\u3000-\u303f\ufeff])+',
                                     ' ', 'g') end,
            '(^| )(dr|mr|mrs|ms|prof)( |$)', ' ', 'g'),
        ' +', ' ', 'g')), '')
$$;

-- Live staff by normalized name; names shared by two staff are ambiguous and never resolve.
create or replace view etl.staff_directory as
select min(s.staff_id::text)::uuid as staff_id, etl.norm_name(concat_ws(' ', p.first_name, p.last_name)) as norm_name
from core.staff as s
join core.persons as p on p.person_id = s.person_id
where s.deleted_at is null
group by 2
having count(*) = 1;

-- The last evaluation of each suite check of a table (``expectations``: its ERROR rules,
-- ``expectations_warn``: its WARN rules, ``expectations_late``: the rules reading tables loaded after
-- it), reused while nothing it reads changed (same rules, same legacy snapshot, same row count and
-- max(updated_at) of every canonical table they name): a no-change delta run does not pay for the
-- suites again. It replaces etl.suite_state (one outcome per table), a cache.
drop table if exists etl.suite_state;
create table if not exists etl.suite_check_state (
    canonical_table text not null,
    check_name text not null,
    fingerprint text not null,
    outcome jsonb not null,
    run_id text not null,
    evaluated_at timestamptz not null default now(),
    primary key (canonical_table, check_name)
);

-- The warning codes each loaded (or merged) legacy row was written with, so the ``warnings`` check
-- reports the standing state (rows carrying each warning now), not only the rows of the latest run.
-- A run replaces the entries of the legacy rows it processed; an entry counts while its legacy row
-- is mapped in ops.legacy_id_map (a row unmapped since keeps a stale entry that no longer counts).
create table if not exists etl.row_warnings (
    canonical_table text not null,
    legacy_table text not null,
    legacy_key text not null,
    codes text[] not null,
    run_id text not null,
    primary key (canonical_table, legacy_table, legacy_key)
);

-- The standing warning counts per table at its last ``warnings`` check, and those before it (the
-- check reports the change since the previous run).
create table if not exists etl.warning_state (
    canonical_table text primary key,
    counts jsonb not null,
    previous jsonb not null default '{}'::jsonb,
    run_id text not null,
    evaluated_at timestamptz not null default now()
);

-- The last result of each conservation check (sql/<schema>/<table>.checks/*.sql) and what it
-- depended on: an idle run (nothing processed for the table, nothing written anywhere) whose
-- fingerprint (check file, legacy snapshot, row count and latest change of every table the check
-- names) is unchanged reuses it: the money checks rescan every legacy bill otherwise.
create table if not exists etl.conservation_state (
    canonical_table text not null,
    check_name text not null,
    fingerprint text not null,
    result jsonb not null,
    run_id text not null,
    evaluated_at timestamptz not null default now(),
    primary key (canonical_table, check_name)
);

-- The last reconciliation of each canonical table; a run that processed nothing for the table and
-- wrote nothing anywhere reuses it instead of rescanning (no-change delta runs stay cheap).
create table if not exists etl.reconcile_state (
    canonical_table text primary key,
    figures jsonb not null,
    ok boolean not null,
    run_id text not null,
    evaluated_at timestamptz not null default now()
);
