"""The kept store, ``ops.legacy_kept``: per legacy row, the values of its ``kept`` columns
(``mappings/columns.csv`` entries whose target is ``ops.legacy_kept.attrs->'<column>'``) and of any
column the contract does not know (drift, kept as found). The compatibility views read them back.

Copied from ``stg`` after each snapshot, incrementally: only the rows staged since the last copy
(``_change_seq`` above ``compat.kept_progress``); all of a table again when its kept column list
changed. One set-based statement per table.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.legacy.dispositions import DISPOSITIONS_FILE, load_dispositions
from hms_pipeline.legacy.schema import contract

KEPT_RELATION = "ops.legacy_kept"


def kept_columns(path: Path = DISPOSITIONS_FILE) -> dict[str, list[str]]:
    """Legacy table -> its columns kept in ``ops.legacy_kept`` (in contract order)."""
    out: dict[str, list[str]] = {}
    for e in load_dispositions(path):
        if e.disposition == "kept" and any(t.relation == KEPT_RELATION for t in e.targets):
            out.setdefault(e.table, []).append(e.column)
    c = contract()
    return {t: [col.name for col in c.columns_of(t) if col.name in set(cols)] for t, cols in out.items()}


def _staged_columns(conn: psycopg.Connection, table: str) -> list[str] | None:
    rows = conn.execute(
        """select a.attname from pg_attribute a
           where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
           order by a.attnum""", (f"stg.{table}",)).fetchall()
    return [r[0] for r in rows] or None


def store_columns(conn: psycopg.Connection, path: Path = DISPOSITIONS_FILE) -> dict[str, list[str]]:
    """Per staged legacy table, the columns the kept store holds: the kept ones plus drift columns
    (staged but not in the contract)."""
    c = contract()
    kept = kept_columns(path)
    out: dict[str, list[str]] = {}
    for table in c.names:
        staged = _staged_columns(conn, table)
        if staged is None:
            continue
        known = {col.name for col in c.columns_of(table)}
        drift = [name for name in staged if not name.startswith("_") and name not in known]
        cols = [name for name in kept.get(table, []) if name in staged] + drift
        if cols:
            out[table] = cols
    return out


def copy_kept(conn: psycopg.Connection, path: Path = DISPOSITIONS_FILE, *, full: bool = False) -> dict[str, int]:
    """Copy the kept values of the rows staged since the last copy; returns rows written per table.
    Runs in the caller's transaction (one statement per table)."""
    written: dict[str, int] = {}
    for table, cols in store_columns(conn, path).items():
        started = time.perf_counter()
        row = conn.execute("select change_seq, columns from compat.kept_progress where legacy_table = %s",
                           (table,)).fetchone()
        since = 0 if (full or row is None or list(row[1]) != cols) else row[0]
        stg = sql.Identifier("stg", table)
        n = conn.execute(sql.SQL("""
            insert into ops.legacy_kept as k (legacy_table, legacy_key, attrs)
            select %(table)s, s._key,
                   (select coalesce(jsonb_object_agg(e.key, e.value), '{{}}'::jsonb)
                    from jsonb_each(to_jsonb(s)) as e where e.key = any(%(cols)s))
            from {stg} as s
            where not s._deleted and s._change_seq > %(since)s
            on conflict (legacy_table, legacy_key)
            do update set attrs = excluded.attrs, updated_at = now()
            where k.attrs is distinct from excluded.attrs""").format(stg=stg),
            {"table": table, "cols": cols, "since": since}).rowcount
        top = conn.execute(sql.SQL("select coalesce(max(_change_seq), 0) from {stg}").format(stg=stg)).fetchone()[0]
        conn.execute("""
            insert into compat.kept_progress (legacy_table, change_seq, columns) values (%s, %s, %s)
            on conflict (legacy_table) do update set change_seq = excluded.change_seq, columns = excluded.columns,
                updated_at = now()""", (table, max(top, since), cols))
        conn.execute("""
            insert into compat.kept_columns (legacy_table, columns) values (%s, %s)
            on conflict (legacy_table) do update set columns = excluded.columns""", (table, cols))
        written[table] = n
        _ = time.perf_counter() - started
    return written
