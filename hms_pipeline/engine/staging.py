"""Stage the legacy rows a backfill run needs, as of one consistent moment.

Every legacy base table the contract knows is mirrored into ``stg.<table>`` (the legacy columns plus
``_key``, ``_hash``, ``_change_seq``, ``_deleted``). One call refreshes all of them:

* same database: one REPEATABLE READ transaction reads the legacy tables and writes ``stg``;
* separate legacy server: one REPEATABLE READ READ ONLY transaction on the legacy server COPYs the
  candidate rows and the key lists into temp tables of the target, merged into ``stg`` in one
  transaction of the target.

Change detection: a table with ``updated_at`` (else ``created_at``) is read from its watermark minus
an overlap, plus rows where the column is NULL; the row hash (md5 of the row text, rendered with
TimeZone=UTC and DateStyle=ISO so both sides agree) tells a real change from a touch. A table with no
timestamp is hashed whole. Deletions are found by a key anti-join over the full key list. Each
change takes a value of ``etl.stage_seq``; canonical assets apply everything up to the run's
``snapshot_seq``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from hms_pipeline.engine import bulk

# Legacy tables that are never migrated, with the reason (views are never staged either: they
# alias base tables, Q2).
EXCLUDED_TABLES: dict[str, str] = {
    "medications_backup": "CREATE TABLE AS copy of medications left in production (Q4): reading it "
    "would double the drug master",
}
WATERMARK_COLUMNS = ("updated_at", "created_at")
WATERMARK_OVERLAP = dt.timedelta(minutes=10)
ENGINE_COLUMNS = ("_key", "_hash", "_change_seq", "_deleted")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9 _(),\[\]]*$")

SESSION_SETTINGS = "set local timezone = 'UTC'; set local datestyle = 'ISO, YMD'; set local extra_float_digits = 1"


class StagingError(RuntimeError):
    pass


@dataclass
class LegacyTable:
    name: str
    columns: list[tuple[str, str]]  # (name, formatted type)
    key_column: str
    watermark_column: str | None

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


@dataclass
class StageResult:
    run_id: str
    mode: str
    snapshot_seq: int
    full_refresh: bool
    tables: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_changed(self) -> int:
        return sum(t["changed"] for t in self.tables.values())

    @property
    def rows_deleted(self) -> int:
        return sum(t["deleted"] for t in self.tables.values())


_TABLES_QUERY = """
select c.relname,
       array_agg(a.attname::text order by a.attnum) as cols,
       array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum) as types,
       (select a2.attname from pg_index i join pg_attribute a2
           on a2.attrelid = i.indrelid and a2.attnum = i.indkey[0]
        where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1) as pk
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = %(schema)s and c.relkind in ('r', 'p') and c.relname = any(%(names)s)
group by c.oid, c.relname
order by c.relname
"""


def discover_legacy_tables(conn: psycopg.Connection, schema: str, names: list[str]) -> list[LegacyTable]:
    """The legacy base tables present in ``schema`` among ``names`` (views and excluded skipped)."""
    wanted = [n for n in names if n not in EXCLUDED_TABLES]
    found = []
    for name, cols, types, pk in conn.execute(_TABLES_QUERY, {"schema": schema, "names": wanted}).fetchall():
        key = pk or ("id" if "id" in cols else None)
        if key is None:
            raise StagingError(f"legacy table {schema}.{name} has no single-column primary key to stage by")
        for t in types:
            if not _TYPE_RE.match(t):
                raise StagingError(f"legacy table {schema}.{name}: unsupported column type {t!r}")
        wm = next((c for c in WATERMARK_COLUMNS if c in cols), None)
        found.append(LegacyTable(name, list(zip(cols, types)), key, wm))
    return found




def absent_tables(present: list[LegacyTable], names: list[str]) -> list[LegacyTable]:
    """Contract tables the legacy side lacks (or has only as a view that aliases another table), in
    the contract's shape, so every transform finds its ``stg`` table (empty) in every profile."""
    from hms_pipeline.legacy.schema import contract

    have = {t.name for t in present}
    c = contract()
    out = []
    for name in names:
        if name in have or name in EXCLUDED_TABLES:
            continue
        columns = [(col.name, col.type) for col in c.columns_of(name)]
        key = next((col.name for col in c.columns_of(name) if col.pk), "id")
        out.append(LegacyTable(name, columns, key, None))
    return out


def _stage_absent(conn: psycopg.Connection, table: LegacyTable, result: dict) -> None:
    """An absent legacy table stages as empty; rows staged before it vanished are marked deleted."""
    ensure_stage_table(conn, table, compare_types=False)  # contract spellings (int, varchar(n)) differ from the catalog's
    deleted = _mark_deleted(conn, table, sql.SQL("(select null::text as _key where false)"))
    result[table.name] = {"changed": 0, "deleted": deleted, "incremental": False, "absent": True}


def _stg(name: str) -> sql.Identifier:
    return sql.Identifier("stg", name)


def ensure_stage_table(conn: psycopg.Connection, table: LegacyTable, *, compare_types: bool = True) -> bool:
    """Create ``stg.<table>`` with the legacy columns (recreate it if the legacy shape changed).
    Returns True when it was (re)created (everything will then count as changed)."""
    existing = conn.execute(
        """select array_agg(a.attname::text order by a.attnum), array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum)
           from pg_attribute a where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped""",
        (f"stg.{table.name}",),
    ).fetchone()
    wanted_cols = table.column_names + list(ENGINE_COLUMNS)
    if existing[0] is not None:
        have = list(zip(existing[0], existing[1]))[: len(table.columns)]
        if existing[0] == wanted_cols and (have == table.columns or not compare_types):
            return False
        conn.execute(sql.SQL("drop table {}").format(_stg(table.name)))  # stg is the engine's own copy
    defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in table.columns]
    defs += [
        sql.SQL("_key text primary key"),
        sql.SQL("_hash text not null"),
        sql.SQL("_change_seq bigint not null"),
        sql.SQL("_deleted boolean not null default false"),
    ]
    conn.execute(sql.SQL("create table {} ({})").format(_stg(table.name), sql.SQL(", ").join(defs)))
    conn.execute(
        sql.SQL("create index {} on {} (_change_seq)").format(
            sql.Identifier(f"{table.name}_change_seq_idx"), _stg(table.name)
        )
    )
    return True


def _merge_rows(conn: psycopg.Connection, table: LegacyTable, source: sql.Composable) -> int:
    """Upsert rows of ``source`` (legacy columns + ``_hash``) whose hash differs from the staged one."""
    cols = [sql.Identifier(c) for c in table.column_names]
    col_list = sql.SQL(", ").join(cols)
    src_cols = sql.SQL(", ").join(sql.SQL("c.{}").format(c) for c in cols)
    updates = sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(c, c) for c in cols)
    stmt = sql.SQL(
        """
        insert into {stg} ({cols}, _key, _hash, _change_seq, _deleted)
        select {src_cols}, c.{key}::text, c._hash, nextval('etl.stage_seq'), false
        from {source} as c
        where not exists (
            select 1 from {stg} s where s._key = c.{key}::text and s._hash = c._hash and not s._deleted
        )
        on conflict (_key) do update
        set {updates}, _hash = excluded._hash, _change_seq = excluded._change_seq, _deleted = false
        """
    ).format(
        stg=_stg(table.name), cols=col_list, src_cols=src_cols, key=sql.Identifier(table.key_column),
        source=source, updates=updates,
    )
    return conn.execute(stmt).rowcount


def _mark_deleted(conn: psycopg.Connection, table: LegacyTable, keys: sql.Composable) -> int:
    stmt = sql.SQL(
        """
        update {stg} s set _deleted = true, _change_seq = nextval('etl.stage_seq')
        where not s._deleted and not exists (select 1 from {keys} as k where k._key = s._key)
        """
    ).format(stg=_stg(table.name), keys=keys)
    return conn.execute(stmt).rowcount


def _same_population(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable,
                     *, incremental: bool) -> bool:
    """Shortcut for deletion detection on an incremental run that found no change: when the legacy
    table holds as many rows as the live staged copy, nothing was deleted (a delete paired with an
    insert shows up as a change, and then the full key comparison runs)."""
    if not incremental:
        return False
    legacy_rows = lconn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table.name))).fetchone()[0]
    staged_rows = conn.execute(sql.SQL("select count(*) from {} where not _deleted").format(_stg(table.name))).fetchone()[0]
    return legacy_rows == staged_rows


def _watermarks(conn: psycopg.Connection) -> dict[str, dt.datetime | None]:
    return dict(conn.execute("select legacy_table, high_value from etl.watermarks").fetchall())


def _candidate_filter(table: LegacyTable, since: dt.datetime | None) -> sql.Composable:
    """Rows to hash this run. The watermark is a value, rendered by psycopg's literal adapter
    (``sql.Literal``) because ``COPY (query)`` cannot take bound parameters."""
    if table.watermark_column is None or since is None:
        return sql.SQL("true")
    wc = sql.Identifier(table.watermark_column)
    return sql.SQL("(l.{wc} >= {since} or l.{wc} is null)").format(wc=wc, since=sql.Literal(since - WATERMARK_OVERLAP))


def _legacy_select(schema: str, table: LegacyTable, where: sql.Composable) -> sql.Composable:
    return sql.SQL("select l.*, md5(l::text) as _hash from {} as l where {}").format(
        sql.Identifier(schema, table.name), where
    )


def _max_watermark(conn: psycopg.Connection, schema: str, table: LegacyTable):
    if table.watermark_column is None:
        return None
    return conn.execute(
        sql.SQL("select max({}) from {}").format(
            sql.Identifier(table.watermark_column), sql.Identifier(schema, table.name)
        )
    ).fetchone()[0]


def _record(conn, run_id, mode, full, tables, started_at) -> int:
    snapshot_seq = conn.execute("select last_value from etl.stage_seq").fetchone()[0]
    conn.execute(
        """insert into etl.stage_runs (run_id, mode, full_refresh, snapshot_seq, tables_staged,
                                        rows_changed, rows_deleted, started_at, finished_at)
           values (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())
           on conflict (run_id) do update set snapshot_seq = excluded.snapshot_seq,
               tables_staged = excluded.tables_staged, rows_changed = excluded.rows_changed,
               rows_deleted = excluded.rows_deleted, finished_at = clock_timestamp()""",
        (run_id, mode, full, snapshot_seq, len(tables), sum(t["changed"] for t in tables.values()),
         sum(t["deleted"] for t in tables.values()), started_at),
    )
    return snapshot_seq


def _save_watermark(conn, table: LegacyTable, value, run_id: str) -> None:
    if table.watermark_column is None:
        return
    conn.execute(
        """insert into etl.watermarks (legacy_table, column_name, high_value, run_id) values (%s, %s, %s, %s)
           on conflict (legacy_table) do update set column_name = excluded.column_name,
               high_value = excluded.high_value, run_id = excluded.run_id, updated_at = now()
           where etl.watermarks.high_value is distinct from excluded.high_value""",
        (table.name, table.watermark_column, value, run_id),
    )


def _fill_candidates(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable,
                     where: sql.Composable) -> None:
    """Temp table ``_cand``: the legacy rows to compare this run (legacy columns + ``_hash``)."""
    select = _legacy_select(schema, table, where)
    if lconn is conn:
        conn.execute(sql.SQL("create temp table _cand on commit drop as {}").format(select))
        return
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
    conn.execute(sql.SQL("create temp table _cand on commit drop as select {}, _hash from {} with no data")
                 .format(cols, _stg(table.name)))
    _copy(lconn, conn, select, sql.SQL("copy _cand ({}, _hash) from stdin (format binary)").format(cols))
    conn.execute("analyze _cand")


def _stage_empty(conn: psycopg.Connection, table: LegacyTable) -> bool:
    return not conn.execute(sql.SQL("select exists (select 1 from {})").format(_stg(table.name))).fetchone()[0]


def _load_empty(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable) -> int:
    """First staging of a table (its ``stg`` copy is empty): every legacy row is new, so insert them
    all in one statement with the indexes built afterwards (:mod:`hms_pipeline.engine.bulk`),
    straight from the legacy table on the same database, through COPY from another server."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
    if lconn is conn:
        source = sql.SQL("({})").format(_legacy_select(schema, table, sql.SQL("true")))
    else:
        _fill_candidates(lconn, conn, schema, table, sql.SQL("true"))
        source = sql.SQL("_cand")
    rows = lconn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table.name))).fetchone()[0]
    deferred = bulk.defer(conn, f"stg.{table.name}", keep_unique=False) if rows >= bulk.min_rows() else None
    written = conn.execute(
        sql.SQL(
            """insert into {stg} ({cols}, _key, _hash, _change_seq, _deleted)
               select {src_cols}, c.{key}::text, c._hash, nextval('etl.stage_seq'), false from {source} as c"""
        ).format(stg=_stg(table.name), cols=cols, key=sql.Identifier(table.key_column), source=source,
                 src_cols=sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in table.column_names))
    ).rowcount
    if deferred is not None:
        bulk.restore(conn, deferred)
    if lconn is not conn:
        conn.execute("drop table _cand")
    return written


def _detect_deletions(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable) -> int:
    """Mark staged rows whose key the legacy table no longer has (full key comparison)."""
    keys_select = sql.SQL("select {}::text as _key from {}").format(
        sql.Identifier(table.key_column), sql.Identifier(schema, table.name))
    if lconn is conn:
        return _mark_deleted(conn, table, sql.SQL("({})").format(keys_select))
    conn.execute("create temp table _keys (_key text) on commit drop")
    _copy(lconn, conn, keys_select, sql.SQL("copy _keys (_key) from stdin (format binary)"))
    conn.execute("analyze _keys")
    deleted = _mark_deleted(conn, table, sql.SQL("_keys"))
    conn.execute("drop table _keys")
    return deleted


def _stage_all(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, names: list[str], run_id: str,
               full: bool, mode: str) -> StageResult:
    """Stage every legacy table; the caller holds the snapshot transaction(s). ``lconn`` reads the
    legacy side (``conn`` itself when legacy and target share the database)."""
    started = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    conn.execute("select pg_advisory_xact_lock(hashtext('hms_pipeline.stage'))")
    conn.execute(SESSION_SETTINGS)
    if lconn is not conn:
        lconn.execute(SESSION_SETTINGS)
    tables = discover_legacy_tables(lconn, schema, names)
    marks = {} if full else _watermarks(conn)
    result: dict[str, dict] = {}
    for table in tables:
        recreated = ensure_stage_table(conn, table)
        since = None if (full or recreated) else marks.get(table.name)
        if recreated or _stage_empty(conn, table):
            changed, deleted = _load_empty(lconn, conn, schema, table), 0
        else:
            _fill_candidates(lconn, conn, schema, table, _candidate_filter(table, since))
            changed = _merge_rows(conn, table, sql.SQL("_cand"))
            conn.execute("drop table _cand")
            deleted = 0
            if not _same_population(lconn, conn, schema, table, incremental=since is not None and changed == 0):
                deleted = _detect_deletions(lconn, conn, schema, table)
        if changed + deleted > 1000:
            conn.execute(sql.SQL("analyze {}").format(_stg(table.name)))
        _save_watermark(conn, table, _max_watermark(lconn, schema, table), run_id)
        result[table.name] = {"changed": changed, "deleted": deleted, "incremental": since is not None}
    for table in absent_tables(tables, names):
        _stage_absent(conn, table, result)
    seq = _record(conn, run_id, mode, full, result, started_at)
    return StageResult(run_id, mode, seq, full, result, time.monotonic() - started)


def stage_same_database(conn: psycopg.Connection, schema: str, names: list[str], run_id: str,
                        full: bool = False) -> StageResult:
    """Stage from a legacy schema in the target database, in one REPEATABLE READ transaction."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            return _stage_all(conn, conn, schema, names, run_id, full, "same-database")
    finally:
        conn.isolation_level = None


def stage_separate_server(conn: psycopg.Connection, legacy_url: str, schema: str, names: list[str],
                          run_id: str, full: bool = False) -> StageResult:
    """Stage from another server: COPY the candidate rows (and, when needed, the key list) from one
    REPEATABLE READ READ ONLY transaction there into the target, then merge, in one transaction."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    with psycopg.connect(legacy_url) as lconn:
        lconn.execute("set jit = off")  # see hms_pipeline.db.connect
        lconn.commit()
        lconn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        lconn.read_only = True
        with lconn.transaction(), conn.transaction():
            return _stage_all(lconn, conn, schema, names, run_id, full, "separate-server")


def _copy(src: psycopg.Connection, dst: psycopg.Connection, select: sql.Composable,
          copy_in: sql.Composable) -> None:
    """Stream ``select`` from the legacy server into ``copy_in`` on the target (binary COPY)."""
    with src.cursor() as scur, dst.cursor() as dcur:
        with scur.copy(sql.SQL("copy ({}) to stdout (format binary)").format(select)) as out, \
                dcur.copy(copy_in) as into:
            for chunk in out:
                into.write(chunk)
