"""Has anything changed since the last successful backfill? One cheap answer, before a run starts.

A backfill run that finds nothing to do still costs a Dagster run: its steps, about 700 events in
the run storage and a report (18 s and 6 s of the CLI on the demo scale, measured on PostgreSQL
15). The 15-minute delta schedule would pay that 96 times a day on an idle source. The probe
answers from the catalog and the cumulative statistics instead of the rows:

- the legacy schema and the canonical schemas: per relation its storage (``relfilenode``: a TRUNCATE
  or rewrite changes it), its columns (a DDL change), its view definition, and the statistics
  system's insert / update / delete counters (``pg_stat_all_tables``: every write counts, also a
  write made behind the pipeline's back to a canonical table);
- the pipeline's own files: every transform, DDL, suite, mapping and Python module;
- the settings that change what a transform writes (the caller passes them).

The fingerprint is taken when a run's snapshot starts (:func:`record`) and marked when the run
succeeds (:func:`mark_succeeded`). A fingerprint equal to the last successful run's means the run
would find nothing to do (:func:`unchanged_since`). The run's own canonical writes change the next
fingerprint, so the run after a change is always a real run (a no-change one, which settles it).

Limits, by design conservative: anything that moves a counter (a rolled-back write, a statistics
reset, a server crash) only causes a run. The other way round, the statistics system publishes a
session's counts when the session goes idle, within about a second of its commit (PostgreSQL 15+):
a write committed in that second may be seen by the next probe instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import psycopg

from hms_pipeline import db
from hms_pipeline.paths import PROJECT_ROOT
from hms_pipeline.settings import Settings

# the schemas whose tables the pipeline writes and a no-change run leaves alone (ops is written by
# every run: quarantine sightings, audit; etl and stg are the engine's own)
CANONICAL_DATA_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ref")
# the pipeline's own files that change what a run does
_FILE_GLOBS = ("sql/**/*.sql", "expectations/**/*.json", "mappings/**/*", "hms_pipeline/**/*.py")

_RELATIONS = """
select md5(coalesce(string_agg(concat_ws('|', n.nspname, c.relname, c.relkind, c.relfilenode,
                                         coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0),
                                         md5(coalesce(cols.list, '') || case when c.relkind in ('v', 'm')
                                                                        then pg_get_viewdef(c.oid) else '' end)),
                               E'\\n' order by n.nspname, c.relname), ''))
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
left join pg_stat_all_tables as s on s.relid = c.oid
left join lateral (
    select string_agg(a.attname || ':' || a.atttypid::regtype::text, ',' order by a.attnum) as list
    from pg_attribute as a
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
) as cols on true
where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
"""


def relations_state(conn: psycopg.Connection, schemas: Iterable[str]) -> str:
    """One digest of the relations of ``schemas`` (storage, columns, view definition, write
    counters), computed in one statement."""
    return conn.execute(_RELATIONS, (list(schemas),)).fetchone()[0]


def files_state(root: Path = PROJECT_ROOT) -> str:
    """One digest of the pipeline's own files (path and content)."""
    digest = hashlib.md5()
    for pattern in _FILE_GLOBS:
        for path in sorted(p for p in root.glob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(hashlib.md5(path.read_bytes()).digest())
    return digest.hexdigest()


def settings_facts(settings: Settings) -> list[str]:
    """The settings that change what a backfill run reads or writes."""
    return [settings.legacy_schema, settings.facility_name, settings.facility_timezone,
            settings.change_detection, str(settings.max_shrink)]


def fingerprint(conn: psycopg.Connection, legacy_conn: psycopg.Connection, settings: Settings) -> str:
    """The state a backfill run depends on: the legacy schema (through ``legacy_conn``, the same
    connection in the same-database mode), the canonical tables, the files and the settings."""
    parts = [
        "legacy=" + relations_state(legacy_conn, [settings.legacy_schema]),
        "canonical=" + relations_state(conn, CANONICAL_DATA_SCHEMAS),
        "files=" + files_state(),
        "settings=" + hashlib.md5("\x1f".join(settings_facts(settings)).encode()).hexdigest(),
    ]
    return ";".join(parts)


def record(conn: psycopg.Connection, run_id: str, fp: str) -> None:
    """The fingerprint a run started from (its success is marked later)."""
    conn.execute(
        """insert into etl.change_probe (run_id, fingerprint) values (%s, %s)
           on conflict (run_id) do update set fingerprint = excluded.fingerprint, recorded_at = now(),
               succeeded_at = null""", (run_id, fp))


def mark_succeeded(conn: psycopg.Connection, run_id: str) -> None:
    """The run succeeded: its starting fingerprint may now answer for the next one."""
    if conn.execute("select to_regclass('etl.change_probe') is not null").fetchone()[0]:
        conn.execute("update etl.change_probe set succeeded_at = now() where run_id = %s", (run_id,))


def unchanged_since(conn: psycopg.Connection, fp: str) -> tuple[str, str] | None:
    """(run id, when) of the latest successful backfill when it started from ``fp`` (nothing
    changed since), else None. Only the latest successful run counts: an older equal fingerprint
    says nothing about the writes made since."""
    if conn.execute("select to_regclass('etl.change_probe') is null").fetchone()[0]:
        return None
    row = conn.execute(
        """select run_id, fingerprint, to_char(succeeded_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
           from etl.change_probe where succeeded_at is not null
           order by recorded_at desc limit 1""").fetchone()
    if row is None or row[1] != fp:
        return None
    return row[0], row[2]


def unchanged(settings: Settings) -> tuple[str, str] | None:
    """:func:`unchanged_since` for the state of the databases and files now."""
    with db.connect(db.canonical_url(settings)) as conn:
        legacy = db.connect(db.legacy_url(settings)) if settings.legacy_is_separate else nullcontext(conn)
        with legacy as legacy_conn:
            return unchanged_since(conn, fingerprint(conn, legacy_conn, settings))


__all__ = ["CANONICAL_DATA_SCHEMAS", "files_state", "fingerprint", "mark_succeeded", "record",
           "relations_state", "settings_facts", "unchanged", "unchanged_since"]
