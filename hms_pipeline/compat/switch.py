"""The switch (phase 3) and its reverse, in one transaction each.

``switch_on``: with the application's writes blocked (the caller holds ``lock_legacy``'s SHARE locks
and has run the final delta inside that window), move every legacy base table of the contract to the
archive schema, drop the legacy views that read them (their definitions are kept for the rollback),
and create the compatibility views under the old names: one per legacy table with a body in
``sql/compat/``. ``switch_off`` reverses it: the views go, the archived tables (holding every write
the application made meanwhile: the write path writes them too) come back, and the legacy views are
re-created. ``state`` says where the migration stands.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from hms_pipeline.compat.kept import copy_kept
from hms_pipeline.compat.views import CompatError, compat_tables, create_view, key_column, legacy_columns
from hms_pipeline.legacy.schema import check_schema_name, contract

DEFAULT_ARCHIVE = "legacy_archive"


@dataclass
class SwitchResult:
    action: str
    tables: list[str]
    views: list[str]
    lock_ms: float
    summary: dict = field(default_factory=dict)
    locked_at: float | None = None  # time.monotonic() when the writes were blocked


def state(conn: psycopg.Connection) -> dict | None:
    """The latest switch or rollback (None when there was none)."""
    row = conn.execute(
        """select action, legacy_schema, archive_schema, tables, views, legacy_views, lock_ms, summary, at
           from compat.cutover_events order by event_id desc limit 1""").fetchone()
    if row is None:
        return None
    keys = ("action", "legacy_schema", "archive_schema", "tables", "views", "legacy_views", "lock_ms", "summary", "at")
    return dict(zip(keys, row))


def compat_is_on(conn: psycopg.Connection) -> bool:
    if conn.execute("select to_regclass('compat.cutover_events') is null").fetchone()[0]:
        return False
    s = state(conn)
    return bool(s and s["action"] == "compat")


def cutover_done(conn: psycopg.Connection) -> bool:
    """The compatibility views and the archived legacy tables were torn down (phase 6): the canonical
    tables are the only store; nothing is switched or copied any more."""
    if conn.execute("select to_regclass('compat.cutover_events') is null").fetchone()[0]:
        return False
    s = state(conn)
    return bool(s and s["action"] == "teardown")


def legacy_base_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    """The contract's base tables present in ``schema``."""
    rows = conn.execute(
        """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relkind in ('r', 'p') and c.relname = any(%s) order by 1""",
        (schema, list(contract().names))).fetchall()
    return [r[0] for r in rows]


def lock_legacy(conn: psycopg.Connection, schema: str, tables: list[str]) -> None:
    """Block the application's writes (SHARE: reads and the final delta's snapshot go on)."""
    conn.execute(sql.SQL("lock table {} in share mode").format(
        sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables)))


def _dependent_views(conn: psycopg.Connection, schema: str, tables: list[str]) -> dict[str, str]:
    """Views of ``schema`` reading any of ``tables`` (directly or through each other): name -> definition."""
    rows = conn.execute(
        """with recursive deps as (
               select distinct v.oid
               from pg_depend d
               join pg_rewrite r on r.oid = d.objid
               join pg_class v on v.oid = r.ev_class and v.relkind = 'v'
               join pg_class t on t.oid = d.refobjid
               join pg_namespace tn on tn.oid = t.relnamespace
               where tn.nspname = %(schema)s and t.relname = any(%(tables)s) and v.oid <> t.oid
               union
               select v.oid
               from deps
               join pg_depend d on d.refobjid = deps.oid
               join pg_rewrite r on r.oid = d.objid
               join pg_class v on v.oid = r.ev_class and v.relkind = 'v' and v.oid <> deps.oid
           )
           select c.relname, pg_get_viewdef(c.oid)
           from deps join pg_class c on c.oid = deps.oid
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %(schema)s""", {"schema": schema, "tables": tables}).fetchall()
    return {name: definition for name, definition in rows}


def visibility(conn: psycopg.Connection, schema: str, archive: str, views: list[str]) -> dict:
    """Per view: rows answered from the canonical tables, rows still read from the archive (no
    provenance: in quarantine), and archived rows the view does not show (must be 0)."""
    out = {}
    for table in views:
        cols = legacy_columns(conn, archive, table)
        key = sql.Identifier(key_column(conn, archive, table, cols))
        v, a = sql.Identifier(schema, table), sql.Identifier(archive, table)
        total, from_archive, hidden = conn.execute(sql.SQL(
            """select (select count(*) from {v}),
                      (select count(*) from {a} x where not exists (select 1 from ops.legacy_id_map m
                          where m.legacy_table = {t} and m.legacy_key = x.{k}::text)),
                      (select count(*) from {a} x where not exists (select 1 from {v} y where y.{k} = x.{k}))"""
        ).format(v=v, a=a, t=sql.Literal(table), k=key)).fetchone()
        out[table] = {"rows": total, "from_canonical": total - from_archive, "from_archive": from_archive,
                      "archived_not_shown": hidden}
    return out


def _create_views(conn: psycopg.Connection, schema: str, definitions: dict[str, str]) -> None:
    """Create the legacy views ``definitions`` in ``schema`` (views over views: in dependency order,
    by retrying)."""
    pending = dict(definitions)
    for _ in range(len(pending) + 1):
        for name, definition in list(pending.items()):
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(schema)))
                    conn.execute(sql.SQL("create view {} as {}").format(
                        sql.Identifier(schema, name), sql.SQL(definition.rstrip().rstrip(";"))))  # type: ignore[arg-type]  # the catalog's own definition
                del pending[name]
            except psycopg.errors.UndefinedTable:
                continue
    if pending:
        raise CompatError(f"cutover: could not re-create the legacy view(s) {', '.join(sorted(pending))}")


def switch_on(conn: psycopg.Connection, *, legacy_schema: str, archive_schema: str = DEFAULT_ARCHIVE,
              locked_at: float | None = None) -> SwitchResult:
    """Move the legacy tables to ``archive_schema`` and create the compatibility views, in the
    caller's transaction (which should hold :func:`lock_legacy` since ``locked_at``)."""
    check_schema_name(legacy_schema)
    check_schema_name(archive_schema)
    if compat_is_on(conn):
        raise CompatError("cutover compat: the compatibility views are already on (cutover status; cutover rollback)")
    if cutover_done(conn):
        raise CompatError("cutover compat: the cutover is done (cutover teardown dropped the legacy tables)")
    started = locked_at or time.monotonic()
    tables = legacy_base_tables(conn, legacy_schema)
    if not tables:
        raise CompatError(f"cutover compat: schema {legacy_schema} holds no legacy table of the contract")
    taken = legacy_base_tables(conn, archive_schema)
    if taken:
        raise CompatError(f"cutover compat: the archive schema {archive_schema} already holds {len(taken)} legacy "
                          f"table(s) (e.g. {taken[0]}): a previous switch was not rolled back cleanly")
    copy_kept(conn)
    legacy_views = _dependent_views(conn, legacy_schema, tables)
    for name in legacy_views:
        conn.execute(sql.SQL("drop view if exists {} cascade").format(sql.Identifier(legacy_schema, name)))
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(archive_schema)))
    for t in tables:
        conn.execute(sql.SQL("alter table {} set schema {}").format(sql.Identifier(legacy_schema, t),
                                                                   sql.Identifier(archive_schema)))
    views = []
    for t in compat_tables():
        if t in tables:
            create_view(conn, t, view_schema=legacy_schema, archive_schema=archive_schema)
            views.append(t)
    # legacy views with no body of their own (the live database's appointments, medicines, ...) read
    # the compatibility views now, as they read the tables before
    _create_views(conn, legacy_schema, {n: d for n, d in legacy_views.items() if n not in views})
    lock_ms = round((time.monotonic() - started) * 1000, 1)  # until here; the caller records it at commit
    summary = {"archived_without_view": sorted(set(tables) - set(views))}
    conn.execute(
        """insert into compat.cutover_events (action, legacy_schema, archive_schema, tables, views, legacy_views, lock_ms, summary)
           values ('compat', %s, %s, %s, %s, %s, %s, %s)""",
        (legacy_schema, archive_schema, tables, views, json.dumps(legacy_views), lock_ms, json.dumps(summary)))
    return SwitchResult("compat", tables, views, lock_ms, summary)


def record_switch(conn: psycopg.Connection, result: SwitchResult, lock_ms: float) -> None:
    """After the switch committed: the time the application's writes were really blocked (lock to
    commit) and, outside the lock, what each view shows (:func:`visibility`)."""
    s = state(conn)
    result.lock_ms = round(lock_ms, 1)
    result.locked_at = time.monotonic() - lock_ms / 1000
    result.summary["visibility"] = visibility(conn, s["legacy_schema"], s["archive_schema"], result.views)
    conn.execute(
        """update compat.cutover_events set lock_ms = %s, summary = %s
           where event_id = (select max(event_id) from compat.cutover_events)""",
        (result.lock_ms, json.dumps(result.summary)))


def switch_off(conn: psycopg.Connection) -> SwitchResult:
    """Reverse the last switch in the caller's transaction: drop the views, bring the archived
    tables back (with every write made through the views), re-create the legacy views."""
    s = state(conn)
    if not s or s["action"] != "compat":
        raise CompatError("cutover rollback: the compatibility views are not on (cutover status)")
    started = time.monotonic()
    schema, archive = s["legacy_schema"], s["archive_schema"]
    present = legacy_base_tables(conn, archive)
    for v in s["views"]:
        conn.execute(sql.SQL("drop view if exists {} cascade").format(sql.Identifier(schema, v)))
    for t in present:
        conn.execute(sql.SQL("alter table {} set schema {}").format(sql.Identifier(archive, t), sql.Identifier(schema)))
    _create_views(conn, schema, s["legacy_views"] or {})
    lock_ms = round((time.monotonic() - started) * 1000, 1)
    writes = dict(conn.execute(
        "select outcome, count(*) from compat.writes where at >= %s group by 1", (s["at"],)).fetchall())
    summary = {"writes_since_switch": writes}
    conn.execute(
        """insert into compat.cutover_events (action, legacy_schema, archive_schema, tables, views, legacy_views, lock_ms, summary)
           values ('rollback', %s, %s, %s, %s, '{}'::jsonb, %s, %s)""",
        (schema, archive, present, [], lock_ms, json.dumps(summary)))
    return SwitchResult("rollback", present, [], lock_ms, summary)
