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
ENGINE_COLUMNS = ("_key", "_hash", "_change_seq", "_deleted", "_xmin")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9 _(),\[\]]*$")

SESSION_SETTINGS = "set local timezone = 'UTC'; set local datestyle = 'ISO, YMD'; set local extra_float_digits = 1"


class StagingError(RuntimeError):
    pass


class SourceGuardError(StagingError):
    """The legacy source looks wrong (a table absent, emptied or shrunk): staging it would mark its
    rows deleted and soft-delete their canonical rows. Nothing was changed."""


# Contract tables that may legitimately be absent from a real source although the live profile has
# them: dropped on 2026-02-15 (contract note 1, App. C #1/#2), and payment_ledger, created on
# 2026-02-15 as payment_history's base (App. C #2/#14): a source from before that day (the blueprint
# profile) keeps its ledger in the table payment_history instead. Every other table the live profile
# has is required: its absence stops the run before anything is staged.
MAY_BE_ABSENT = frozenset({"lab_tests", "lab_reports", "lab_result_value", "medications_backup",
                           "prescription_dispensed", "prescription_dispensed_items", "payment_ledger"})
DEFAULT_MAX_SHRINK = 0.10


@dataclass
class LegacyTable:
    name: str
    columns: list[tuple[str, str]]  # (name, type staged: the legacy type, or the contract's where it drifted)
    key_column: str
    watermark_column: str | None
    # The legacy key is guaranteed unique and not null by the source (a PK, or a unique index on a
    # NOT NULL column). Otherwise repeated and NULL keys are looked for on every snapshot.
    keyed: bool = True
    # column -> contract type, for legacy columns whose type drifted from the contract (staged in
    # the contract's type; a value that does not parse is recorded in etl.stage_unparseable)
    drift: dict[str, str] = field(default_factory=dict)
    legacy_types: list[str] = field(default_factory=list)  # the legacy side's own types, column by column

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def careful(self) -> bool:
        """Rows go through the candidate table with the key and type checks (hostile sources)."""
        return not self.keyed or bool(self.drift)


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
       array_agg(format_type(a.atttypid, null) order by a.attnum) as base_types,
       (select a2.attname from pg_index i join pg_attribute a2
           on a2.attrelid = i.indrelid and a2.attnum = i.indkey[0]
        where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1) as pk,
       array(select a3.attname::text from pg_index i join pg_attribute a3
                on a3.attrelid = i.indrelid and a3.attnum = i.indkey[0]
             where i.indrelid = c.oid and i.indisunique and i.indnatts = 1 and i.indpred is null
               and i.indexprs is null and a3.attnotnull) as unique_not_null
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = %(schema)s and c.relkind in ('r', 'p') and c.relname = any(%(names)s)
group by c.oid, c.relname
order by c.relname
"""


_BASE_TYPES: dict[str, str] = {}


def _base_type(conn: psycopg.Connection, declared: str) -> str:
    """The catalog's spelling of a contract type without its modifier ('int' -> 'integer')."""
    if declared not in _BASE_TYPES:
        _BASE_TYPES[declared] = conn.execute(
            "select %s::regtype::text", (re.sub(r"\(.*\)", "", declared),)).fetchone()[0]
    return _BASE_TYPES[declared]


def discover_legacy_tables(conn: psycopg.Connection, schema: str, names: list[str]) -> list[LegacyTable]:
    """The legacy base tables present in ``schema`` among ``names`` (views and excluded skipped).

    The key is the table's single-column primary key, else its ``id`` column, else the contract's
    key. A column whose base type differs from the contract's is staged in the contract's type."""
    from hms_pipeline.legacy.schema import contract

    c = contract()
    wanted = [n for n in names if n not in EXCLUDED_TABLES]
    found = []
    for name, cols, types, base_types, pk, unique in conn.execute(
            _TABLES_QUERY, {"schema": schema, "names": wanted}).fetchall():
        contract_cols = {col.name: col for col in c.columns_of(name)} if name in c.names else {}
        contract_key = next((col.name for col in contract_cols.values() if col.pk), None)
        key = pk or ("id" if "id" in cols else contract_key if contract_key in cols else None)
        if key is None:
            raise StagingError(f"legacy table {schema}.{name} has no key column to stage by (no primary key, "
                               "no id column, and not the contract's key)")
        for t in types:
            if not _TYPE_RE.match(t):
                raise StagingError(f"legacy table {schema}.{name}: unsupported column type {t!r}")
        drift = {}
        staged_types = []
        for col, typ, base in zip(cols, types, base_types):
            declared = contract_cols[col].type if col in contract_cols else None
            if declared and _TYPE_RE.match(declared) and _base_type(conn, declared) != base:
                drift[col] = declared
                staged_types.append(declared)
            else:
                staged_types.append(typ)
        keyed = key == pk or key in unique
        wm = next((c for c in WATERMARK_COLUMNS if c in cols and c not in drift), None)
        found.append(LegacyTable(name, list(zip(cols, staged_types)), key, wm, keyed=keyed, drift=drift,
                                 legacy_types=list(types)))
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
        """select array_agg(a.attname::text order by a.attnum), array_agg(format_type(a.atttypid, null) order by a.attnum)
           from pg_attribute a where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped""",
        (f"stg.{table.name}",),
    ).fetchone()
    wanted_cols = table.column_names + list(ENGINE_COLUMNS)
    if existing[0] is not None:
        have = existing[1][: len(table.columns)]
        same_types = not compare_types or have == [_base_type(conn, t) for _, t in table.columns]
        if existing[0] == wanted_cols and same_types:
            return False
        conn.execute(sql.SQL("drop table {}").format(_stg(table.name)))  # stg is the engine's own copy
    defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in table.columns]
    defs += [
        sql.SQL("_key text primary key"),
        sql.SQL("_hash text not null"),
        sql.SQL("_change_seq bigint not null"),
        sql.SQL("_deleted boolean not null default false"),
        sql.SQL("_xmin bigint"),
    ]
    conn.execute(sql.SQL("create table {} ({})").format(_stg(table.name), sql.SQL(", ").join(defs)))
    conn.execute(
        sql.SQL("create index {} on {} (_change_seq)").format(
            sql.Identifier(f"{table.name}_change_seq_idx"), _stg(table.name)
        )
    )
    return True


def _staged_values(table: LegacyTable) -> sql.Composable:
    """The staged columns from a legacy row ``c``; a drifted column is parsed into the contract's type
    (NULL where it does not parse: :func:`_record_unparseable` keeps which)."""
    items = []
    for col, typ in table.columns:
        if col in table.drift:
            items.append(sql.SQL("etl.try_cast(c.{c}::text, {t})::{typ}").format(
                c=sql.Identifier(col), t=sql.Literal(typ), typ=sql.SQL(typ)))  # typ matched _TYPE_RE
        else:
            items.append(sql.SQL("c.{}").format(sql.Identifier(col)))
    return sql.SQL(", ").join(items)


def _merge_rows(conn: psycopg.Connection, table: LegacyTable, source: sql.Composable) -> int:
    """Upsert rows of ``source`` (legacy columns + ``_hash``) whose hash differs from the staged one."""
    cols = [sql.Identifier(c) for c in table.column_names]
    col_list = sql.SQL(", ").join(cols)
    src_cols = _staged_values(table)
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


_SWEEP = """
with c as materialized (
    select l.*, md5(l::text) as _hash, l.xmin::text::bigint as _xmin
    from {legacy} as l
    where not exists (select 1 from {stg} as s
                      where s._key = l.{key}::text and s._xmin = l.xmin::text::bigint and not s._deleted)
),
touched as (  -- a new row version with the same content (a touch, a no-op UPDATE): remember its xmin
    update {stg} as s set _xmin = c._xmin
    from c
    where s._key = c.{key}::text and s._hash = c._hash and not s._deleted
)
insert into {stg} ({cols}, _key, _hash, _xmin, _change_seq, _deleted)
select {src_cols}, c.{key}::text, c._hash, c._xmin, nextval('etl.stage_seq'), false
from c
where not exists (select 1 from {stg} as s where s._key = c.{key}::text and s._hash = c._hash and not s._deleted)
on conflict (_key) do update
set {updates}, _hash = excluded._hash, _xmin = excluded._xmin, _change_seq = excluded._change_seq, _deleted = false
"""


def has_row_versions(conn: psycopg.Connection, schema: str, table: LegacyTable) -> bool:
    """The legacy table is a heap table (plain or partitioned) whose rows carry ``xmin``."""
    kind = conn.execute("select relkind::text from pg_class where oid = to_regclass(%s)",
                        (sql.Identifier(schema, table.name).as_string(conn),)).fetchone()
    return kind is not None and kind[0] in ("r", "p")


def _sweep_row_versions(conn: psycopg.Connection, schema: str, table: LegacyTable) -> int:
    """Same-database sweep narrowed by row versions: a legacy row whose ``xmin`` (the transaction
    that wrote this version of it) equals the one recorded at its last staging is the same row
    version, so its content cannot have changed; only the other rows are hashed and compared. Any
    INSERT or UPDATE, whatever it does to ``updated_at``, writes a new row version with a new xmin;
    a dump/restore or a VACUUM FULL of the legacy side only makes every row look new once (hashed,
    found equal, its xmin remembered). Returns the rows whose content changed."""
    cols = [sql.Identifier(c) for c in table.column_names]
    stmt = sql.SQL(_SWEEP).format(
        legacy=sql.Identifier(schema, table.name), stg=_stg(table.name), key=sql.Identifier(table.key_column),
        cols=sql.SQL(", ").join(cols), src_cols=_staged_values(table),
        updates=sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(c, c) for c in cols))
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
    rejects = conn.execute("select count(*) from etl.stage_rejects where legacy_table = %s", (table.name,)).fetchone()[0]
    return legacy_rows == staged_rows + rejects


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
    if not table.keyed:
        # every row of a repeated or NULL key, whatever the watermark: the rejects are recomputed
        # whole each snapshot. Among rows of one key the one whose hash sorts first is staged, so
        # the choice does not depend on the rows' physical order.
        return sql.SQL(
            """select * from (
                   select r.*, row_number() over (partition by r.{key} order by r._hash) as _rn,
                          row_number() over (partition by r.{key}, r._hash) as _twin
                   from (select l.*, md5(l::text) as _hash from {t} as l) as r
               ) as l
               where {where} or l.{key} is null or l._rn > 1"""
        ).format(key=sql.Identifier(table.key_column), t=sql.Identifier(schema, table.name), where=where)
    return sql.SQL("select l.*, md5(l::text) as _hash from {} as l where {}").format(
        sql.Identifier(schema, table.name), where
    )


def _max_watermark(conn: psycopg.Connection, schema: str, table: LegacyTable):
    if table.watermark_column is None:
        return None
    # clamped to what Python's datetime (and the overlap arithmetic) can hold: a legacy clock at year
    # 10000+ or at 0001-01-01 must not stop the snapshot
    return conn.execute(
        sql.SQL("select greatest(least(max({}), '9999-12-30 00:00+00'::timestamptz), '0002-01-01 00:00+00'::timestamptz) "
                "from {}").format(sql.Identifier(table.watermark_column), sql.Identifier(schema, table.name))
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
    extra = [] if table.keyed else ["_rn", "_twin"]
    if table.careful:  # the legacy side's own types (binary COPY), not the staged ones
        defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                for c, t in zip(table.column_names, table.legacy_types)]
        defs += [sql.SQL("_hash text")] + [sql.SQL("{} bigint").format(sql.Identifier(e)) for e in extra]
        conn.execute(sql.SQL("create temp table _cand ({}) on commit drop").format(sql.SQL(", ").join(defs)))
    else:
        conn.execute(sql.SQL("create temp table _cand on commit drop as select {}, _hash from {} with no data")
                     .format(cols, _stg(table.name)))
    copy_cols = sql.SQL(", ").join([cols, sql.SQL("_hash")] + [sql.Identifier(e) for e in extra])
    _copy(lconn, conn, select, sql.SQL("copy _cand ({}) from stdin (format binary)").format(copy_cols))
    conn.execute("analyze _cand")


def _stage_empty(conn: psycopg.Connection, table: LegacyTable) -> bool:
    return not conn.execute(sql.SQL("select exists (select 1 from {})").format(_stg(table.name))).fetchone()[0]


def _load_empty(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable) -> int:
    """First staging of a table (its ``stg`` copy is empty): every legacy row is new, so insert them
    all in one statement with the indexes built afterwards (:mod:`hms_pipeline.engine.bulk`),
    straight from the legacy table on the same database, through COPY from another server."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
    xmin = sql.SQL("null::bigint")
    if lconn is conn and table.keyed and has_row_versions(conn, schema, table):
        # the row versions too, so the first sweep after a load hashes nothing that did not change
        source = sql.SQL("(select l.*, md5(l::text) as _hash, l.xmin::text::bigint as _xmin from {} as l)").format(
            sql.Identifier(schema, table.name))
        xmin = sql.SQL("c._xmin")
    elif lconn is conn:
        source = sql.SQL("({})").format(_legacy_select(schema, table, sql.SQL("true")))
    else:
        _fill_candidates(lconn, conn, schema, table, sql.SQL("true"))
        source = sql.SQL("_cand")
    rows = lconn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table.name))).fetchone()[0]
    deferred = bulk.defer(conn, f"stg.{table.name}", keep_unique=False) if rows >= bulk.min_rows() else None
    written = conn.execute(
        sql.SQL(
            """insert into {stg} ({cols}, _key, _hash, _xmin, _change_seq, _deleted)
               select {src_cols}, c.{key}::text, c._hash, {xmin}, nextval('etl.stage_seq'), false from {source} as c"""
        ).format(stg=_stg(table.name), cols=cols, key=sql.Identifier(table.key_column), source=source,
                 src_cols=_staged_values(table), xmin=xmin)
    ).rowcount
    if deferred is not None:
        bulk.restore(conn, deferred)
    if lconn is not conn:
        conn.execute("drop table _cand")
    return written


_REJECTS = """
with cur as (
    select case when c.{key} is null then '~nullkey:' || c._hash
                else c.{key}::text || '~copy:' || c._hash end
           || case when c._twin > 1 then '~' || c._twin::text else '' end as _key,
           case when c.{key} is null then 'NULL_KEY' else 'DUPLICATE_LEGACY_KEY' end as reason,
           c.{key}::text as survivor_key
    from _cand c where c.{key} is null or c._rn > 1
), gone as (
    delete from etl.stage_rejects r
    where r.legacy_table = %(t)s and not exists (select 1 from cur where cur._key = r._key)
)
insert into etl.stage_rejects (legacy_table, _key, reason, survivor_key, run_id)
select %(t)s, _key, reason, survivor_key, %(run)s from cur
on conflict (legacy_table, _key) do update set reason = excluded.reason, survivor_key = excluded.survivor_key,
    run_id = excluded.run_id
where (etl.stage_rejects.reason, etl.stage_rejects.survivor_key) is distinct from (excluded.reason, excluded.survivor_key)
"""


def _record_rejects(conn: psycopg.Connection, table: LegacyTable, run_id: str) -> None:
    """The rows of ``_cand`` (every row of a repeated or NULL key) that are not staged, with why."""
    conn.execute(sql.SQL(_REJECTS).format(key=sql.Identifier(table.key_column)), {"t": table.name, "run": run_id})


def _record_unparseable(conn: psycopg.Connection, table: LegacyTable, source: sql.Composable, run_id: str) -> None:
    """Values of drifted columns in ``source`` (the rows staged this run) that do not parse as the
    contract's type; entries of those rows from earlier snapshots are replaced."""
    key = sql.Identifier(table.key_column)
    conn.execute(sql.SQL("delete from etl.stage_unparseable u using {} as c where u.legacy_table = %s and u._key = c.{}::text")
                 .format(source, key), (table.name,))
    for col, typ in table.drift.items():
        conn.execute(
            sql.SQL("""insert into etl.stage_unparseable (legacy_table, _key, column_name, contract_type, run_id)
                       select %s, c.{key}::text, %s, %s, %s from {source} as c
                       where c.{col} is not null and etl.try_cast(c.{col}::text, %s) is null
                       on conflict do nothing""").format(key=key, source=source, col=sql.Identifier(col)),
            (table.name, col, typ, run_id, typ))


def _stage_careful(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, table: LegacyTable,
                   since, run_id: str, empty: bool) -> tuple[int, int]:
    """Stage a table whose source does not guarantee its key, or whose types drifted: through the
    candidate table, with the rejects and the unparseable values recorded."""
    _fill_candidates(lconn, conn, schema, table, _candidate_filter(table, since))
    good = sql.SQL("_cand") if table.keyed else sql.SQL("(select * from _cand where {k} is not null and _rn = 1)").format(
        k=sql.Identifier(table.key_column))
    changed = _merge_rows(conn, table, good)
    if not table.keyed:
        _record_rejects(conn, table, run_id)
    if table.drift:
        _record_unparseable(conn, table, good, run_id)
    conn.execute("drop table _cand")
    deleted = 0
    if not empty and not _same_population(lconn, conn, schema, table, incremental=changed == 0):
        deleted = _detect_deletions(lconn, conn, schema, table)
    return changed, deleted


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


@dataclass(frozen=True)
class Guard:
    """What the deletion guard allows: a legacy table may shrink by at most ``max_shrink`` (a share of
    its rows at the last snapshot) unless it is named in ``accept_deletions``."""

    max_shrink: float = DEFAULT_MAX_SHRINK
    accept_deletions: frozenset[str] = frozenset()
    # "sweep": every snapshot compares every legacy row with its staged copy (finds a backdated
    # insert, an update that kept updated_at, a delete hidden by an insert); on the same database
    # only rows whose row version (xmin) changed since their last staging are hashed, and a full
    # refresh hashes them all. "hash": every row hashed every run. "watermark": only rows whose
    # updated_at/created_at moved past the last snapshot (minus an overlap) are read.
    change_detection: str = "sweep"


def check_sources(tables: list[LegacyTable], names: list[str], schema: str) -> None:
    """Every table a transform reads that the live profile has (bar the documented drops) is a base
    table of the source, with every column the contract requires. Raises :class:`SourceGuardError`
    naming them (a misspelled schema names every required table)."""
    from hms_pipeline.legacy.schema import contract

    c = contract()
    have = {t.name: t for t in tables}
    missing = [n for n in names if n in c.names and n not in have and n not in EXCLUDED_TABLES
               and n not in MAY_BE_ABSENT and c.relation_kind(n, "live") == "table"]
    problems = []
    if missing:
        problems.append(f"legacy table(s) missing from schema {schema!r}: {', '.join(missing)}")
    for t in tables:
        block = c.tables.get(t.name)
        optional = set(block.optional_columns) if block else set()
        lacking = [col.name for col in c.columns_of(t.name) if col.name not in t.column_names and col.name not in optional]
        if lacking:
            problems.append(f"legacy table {schema}.{t.name} is missing required column(s) {', '.join(lacking)}")
    if problems:
        raise SourceGuardError("; ".join(problems) + ". Nothing was staged or deleted (check HMS_LEGACY_SCHEMA "
                               "and the legacy database).")


def guard_deletions(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, tables: list[LegacyTable],
                    absent: list[LegacyTable], guard: Guard) -> dict[str, int]:
    """Refuse a snapshot that would delete much: a previously staged table now absent, emptied, or
    shrunk by more than ``guard.max_shrink``. Returns the legacy row counts. Raises
    :class:`SourceGuardError` naming each table with its figures; nothing has been changed then."""
    counts = {t.name: lconn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, t.name))).fetchone()[0]
              for t in tables}
    before = dict(conn.execute("select legacy_table, legacy_rows from etl.source_counts").fetchall())
    problems = []
    for t in absent:
        staged = conn.execute("select to_regclass(%s) is not null", (f"stg.{t.name}",)).fetchone()[0] and \
            conn.execute(sql.SQL("select count(*) from {} where not _deleted").format(_stg(t.name))).fetchone()[0]
        if staged and t.name not in guard.accept_deletions:
            problems.append(f"{t.name}: absent from schema {schema!r}, {staged} rows staged before")
    for t in tables:
        was, now = before.get(t.name), counts[t.name]
        if not was or t.name in guard.accept_deletions or was <= now:
            continue
        if now == 0:
            problems.append(f"{t.name}: emptied ({was} rows at the last snapshot, 0 now)")
        elif (was - now) / was > guard.max_shrink:
            problems.append(f"{t.name}: shrunk from {was} to {now} rows ({(was - now) / was:.0%}, "
                            f"more than the {guard.max_shrink:.0%} allowed by HMS_MAX_SHRINK)")
    if problems:
        raise SourceGuardError(
            "the legacy source looks wrong, so nothing was staged or soft-deleted: " + "; ".join(problems)
            + ". If these deletions are real, re-run with --accept-deletions TABLE for each table.")
    return counts


def _save_counts(conn: psycopg.Connection, counts: dict[str, int], run_id: str) -> None:
    conn.execute(
        """insert into etl.source_counts (legacy_table, legacy_rows, run_id)
           select t, n, %s from unnest(%s::text[], %s::bigint[]) as u (t, n)
           on conflict (legacy_table) do update set legacy_rows = excluded.legacy_rows, run_id = excluded.run_id,
               counted_at = now()
           where etl.source_counts.legacy_rows is distinct from excluded.legacy_rows""",
        (run_id, list(counts), list(counts.values())))


def _stage_all(lconn: psycopg.Connection, conn: psycopg.Connection, schema: str, names: list[str], run_id: str,
               full: bool, mode: str, guard: Guard | None = None) -> StageResult:
    """Stage every legacy table; the caller holds the snapshot transaction(s). ``lconn`` reads the
    legacy side (``conn`` itself when legacy and target share the database). The source checks and
    the deletion guard run first: when they refuse, nothing is staged."""
    started = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    conn.execute("select pg_advisory_xact_lock(hashtext('hms_pipeline.stage'))")
    conn.execute(SESSION_SETTINGS)
    if lconn is not conn:
        lconn.execute(SESSION_SETTINGS)
    tables = discover_legacy_tables(lconn, schema, names)
    check_sources(tables, names, schema)
    counts = guard_deletions(lconn, conn, schema, tables, absent_tables(tables, names), guard or Guard())
    marks = {} if full else _watermarks(conn)
    result: dict[str, dict] = {}
    detection = (guard or Guard()).change_detection
    sweep = detection in ("sweep", "hash")
    versions = detection == "sweep"  # "hash": every row hashed every run (no row-version narrowing)
    for table in tables:
        recreated = ensure_stage_table(conn, table)
        since = None if (full or recreated or sweep) else marks.get(table.name)
        if table.careful:
            changed, deleted = _stage_careful(lconn, conn, schema, table, since, run_id,
                                              recreated or _stage_empty(conn, table))
        elif recreated or _stage_empty(conn, table):
            changed, deleted = _load_empty(lconn, conn, schema, table), 0
        else:
            if lconn is conn and since is None and not full and versions and has_row_versions(conn, schema, table):
                changed = _sweep_row_versions(conn, schema, table)
            elif lconn is conn and since is None:  # a whole-table sweep: compare straight from the legacy table
                changed = _merge_rows(conn, table, sql.SQL("({})").format(_legacy_select(schema, table, sql.SQL("true"))))
            else:
                _fill_candidates(lconn, conn, schema, table, _candidate_filter(table, since))
                changed = _merge_rows(conn, table, sql.SQL("_cand"))
                conn.execute("drop table _cand")
            deleted = 0
            if not _same_population(lconn, conn, schema, table, incremental=(since is not None or sweep) and changed == 0):
                deleted = _detect_deletions(lconn, conn, schema, table)
        if changed + deleted > 1000:
            conn.execute(sql.SQL("analyze {}").format(_stg(table.name)))
        _save_watermark(conn, table, _max_watermark(lconn, schema, table), run_id)
        result[table.name] = {"changed": changed, "deleted": deleted, "incremental": since is not None}
        if table.drift:
            result[table.name]["type_drift"] = sorted(table.drift)
    for table in absent_tables(tables, names):
        _stage_absent(conn, table, result)
    _save_counts(conn, counts, run_id)
    seq = _record(conn, run_id, mode, full, result, started_at)
    return StageResult(run_id, mode, seq, full, result, time.monotonic() - started)


def stage_same_database(conn: psycopg.Connection, schema: str, names: list[str], run_id: str,
                        full: bool = False, guard: Guard | None = None) -> StageResult:
    """Stage from a legacy schema in the target database, in one REPEATABLE READ transaction."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            return _stage_all(conn, conn, schema, names, run_id, full, "same-database", guard)
    finally:
        conn.isolation_level = None


def stage_separate_server(conn: psycopg.Connection, legacy_url: str, schema: str, names: list[str],
                          run_id: str, full: bool = False, guard: Guard | None = None) -> StageResult:
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
            return _stage_all(lconn, conn, schema, names, run_id, full, "separate-server", guard)


def _copy(src: psycopg.Connection, dst: psycopg.Connection, select: sql.Composable,
          copy_in: sql.Composable) -> None:
    """Stream ``select`` from the legacy server into ``copy_in`` on the target (binary COPY)."""
    with src.cursor() as scur, dst.cursor() as dcur:
        with scur.copy(sql.SQL("copy ({}) to stdout (format binary)").format(select)) as out, \
                dcur.copy(copy_in) as into:
            for chunk in out:
                into.write(chunk)
