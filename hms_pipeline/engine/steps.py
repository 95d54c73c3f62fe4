"""The named steps of applying one canonical table's candidates (order: :mod:`.transform`).

Each step is a function over the engine's temp tables, callable (and tested) alone inside one
transaction of a connection that holds them:

=================  =========================================  ======================================
step               reads                                      writes
=================  =========================================  ======================================
load_candidates    the transform file, ``_todo``, ``stg``     ``_cand``
disposition        ``_cand``                                  ``_ok`` (``_final`` LOADED / MERGED)
preflight          ``_ok``, the target, its catalog           ``_cand`` / ``_ok`` (see preflight.py)
quarantine         ``_cand``                                  ``ops.quarantine``
resolve            ``ops.quarantine``, ``_todo``, ``_cand``   ``ops.quarantine`` (resolved_at)
record_warnings    ``_cand``, ``_ok``                         ``etl.row_warnings``
stale_ids          ``ops.legacy_id_map``, ``_todo``, ``_cand`` ``_processed``, ``_stale``
upsert             ``_ok``                                    the target table
provenance         ``_ok``                                    ``ops.legacy_id_map``
soft_delete        ``_stale``, ``_ok``                        the target table (deleted_at)
=================  =========================================  ======================================

Their SQL lives in ``sql/engine/<step>.sql`` (read once per process); identifiers are composed with
:mod:`psycopg.sql` (``{target}``, ``{pk}``, ...), values are bound parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hms_pipeline.engine import bulk
from hms_pipeline.engine.errors import TransformError
from hms_pipeline.paths import SQL_DIR

PIPELINE_ACTOR = "hms-pipeline"
ANALYZE_AFTER = 1000  # rows written in one step beyond which the step refreshes planner statistics
AUDIT_COLUMNS = frozenset({"created_at", "updated_at", "created_by", "updated_by", "deleted_at"})
CANDIDATE_COLUMNS = ("_legacy_table", "_legacy_key", "_disposition", "_reason", "_detail")
ENGINE_SQL_DIR = SQL_DIR / "engine"


@functools.cache
def engine_sql(name: str) -> str:
    """The text of ``sql/engine/<name>.sql`` (read once per process)."""
    path = ENGINE_SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"engine SQL file not found: {path}")
    return path.read_text(encoding="utf-8")


def engine_query(file: str, /, **parts: sql.Composable) -> sql.Composed:
    """``sql/engine/<file>.sql`` with its ``{placeholders}`` filled by composables."""
    return sql.SQL(engine_sql(file)).format(**parts)


def table_ident(name: str) -> sql.Identifier:
    schema, table = name.split(".")
    return sql.Identifier(schema, table)


def target_columns(conn: psycopg.Connection, name: str) -> tuple[list[str], str]:
    """(writable columns, primary key column) of a canonical table, from the catalog."""
    rows = conn.execute(
        """select a.attname, a.attgenerated <> '' from pg_attribute a
           where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
        (name,),
    ).fetchall()
    pk = conn.execute(
        """select a.attname from pg_index i join pg_attribute a
             on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
           where i.indrelid = %s::regclass and i.indisprimary""",
        (name,),
    ).fetchone()
    if pk is None:
        raise TransformError(f"{name} has no primary key", table=name)
    return [r[0] for r in rows if not r[1]], pk[0]


@dataclass(frozen=True)
class Target:
    """One canonical table as the steps see it: its writable columns, primary key, and the columns
    the candidates (``_cand``) provide."""

    name: str
    pk: str
    columns: tuple[str, ...]  # writable (not generated) columns, in table order
    cand_columns: tuple[str, ...]
    merges: bool = True
    append_only: bool = False  # TableSpec.append_only: a parent may be soft-deleted (history)

    @property
    def ident(self) -> sql.Identifier:
        return table_ident(self.name)

    @property
    def audited(self) -> bool:
        """Principle-6 columns (all tables but ops.audit_log and ref.codes): soft deletes, created_by..."""
        return "deleted_at" in self.columns

    @property
    def data_cols(self) -> list[str]:
        """The columns the upsert writes from the candidates (audit columns are the engine's, except
        created_at, which a transform may carry over from legacy)."""
        return [c for c in self.columns if c in self.cand_columns and c not in AUDIT_COLUMNS - {"created_at"}]

    @property
    def compare_cols(self) -> list[str]:
        return [c for c in self.data_cols if c not in (self.pk, "created_at")]


def describe(conn: psycopg.Connection, name: str, *, merges: bool = True, append_only: bool = False) -> Target:
    """The :class:`Target` of ``name`` for the ``_cand`` of this transaction; raises
    :class:`TransformError` when the candidates lack the engine's columns or the primary key."""
    cand_cols = [d.name for d in conn.execute("select * from _cand limit 0").description]
    missing = set(CANDIDATE_COLUMNS) - set(cand_cols)
    if missing:
        raise TransformError(f"transform for {name} does not return {sorted(missing)}", table=name)
    columns, pk = target_columns(conn, name)
    target = Target(name, pk, tuple(columns), tuple(cand_cols), merges, append_only)
    if pk not in target.data_cols:
        raise TransformError(f"transform for {name} does not return its primary key {pk}", table=name)
    return target


# --- steps ---------------------------------------------------------------------------------------


def load_candidates(conn: psycopg.Connection, transform: Path, params: dict) -> None:
    """Temp table ``_cand``: the transform (one SELECT over ``_todo`` and ``stg``) with ``params``
    bound. A transform file is read on every call (it may be edited between runs)."""
    query = Path(transform).read_text(encoding="utf-8")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("create temp table _cand on commit drop as ") + sql.SQL(query), params)
    conn.execute("analyze _cand")


def disposition(conn: psycopg.Connection, t: Target) -> None:
    """``_ok``: the candidates without a reason, with ``_final``. Per canonical id the first LOADED
    row carries the data, the rest are MERGED (``sql/engine/disposition.sql``). A table whose
    transform emits each id once (``merges`` False) skips that sort: ``_ok`` is then a view and its
    rows keep their disposition (two rows with one id would fail the upsert, naming the table)."""
    if t.merges:
        conn.execute(engine_query("disposition", pk=sql.Identifier(t.pk)))
        conn.execute("analyze _ok")
    else:
        conn.execute("create temp view _ok as select c.*, c._disposition as _final from _cand c where c._reason is null")


def tally(conn: psycopg.Connection) -> tuple[int, int, dict[str, int]]:
    """(rows to write, rows merged, rows loaded with each warning code) of ``_ok``."""
    loaded, merged = conn.execute(
        "select count(*) filter (where _final = 'LOADED'), count(*) filter (where _final = 'MERGED') from _ok").fetchone()
    warnings = dict(conn.execute(engine_sql("warnings")).fetchall())
    return loaded, merged, warnings


def _has_row_warnings(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select exists (select 1 from etl.row_warnings where canonical_table = %s)",
                        (table,)).fetchone()[0]


def record_warnings(conn: psycopg.Connection, t: Target, run_id: str) -> None:
    """Replace the warning codes of the legacy rows of ``_cand`` with those their ``_ok`` row carries
    now (``etl.row_warnings``: the standing state the ``warnings`` check counts); rows whose codes
    did not change are left as they are."""
    params = {"t": t.name, "run": run_id}
    if not _has_row_warnings(conn, t.name):  # a first load: nothing to forget or compare with
        conn.execute(engine_query("row_warnings", codes=sql.SQL("({})").format(sql.SQL(engine_sql("row_warnings_codes")))),
                     params)
        return
    conn.execute(sql.SQL("create temp table _w on commit drop as {}").format(sql.SQL(engine_sql("row_warnings_codes"))))
    conn.execute(engine_sql("row_warnings_clear"), params)
    # what is recorded now for the processed keys equals _w: the rest is new or changed
    conn.execute(engine_query("row_warnings", codes=sql.SQL(
        "(select legacy_table, legacy_key, codes from _w except "
        "select legacy_table, legacy_key, codes from etl.row_warnings where canonical_table = %(t)s)")), params)
    conn.execute("drop table _w")


STANDING_WARNINGS_SQL = """
select w, count(*)
from etl.row_warnings as r
join ops.legacy_id_map as m
  on m.canonical_table = r.canonical_table and m.legacy_table = r.legacy_table and m.legacy_key = r.legacy_key
{live}
cross join unnest(r.codes) as w
where r.canonical_table = %s
group by 1
order by 1
"""
_LIVE_KEY_SQL = """
select a.attname
from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
where i.indrelid = %s::regclass and i.indisprimary and i.indnatts = 1
  and exists (select 1 from pg_attribute d
              where d.attrelid = i.indrelid and d.attname = 'deleted_at' and not d.attisdropped)
"""


def standing_warnings(conn: psycopg.Connection, table: str, run_id: str, *,
                      idle: bool = False) -> tuple[dict[str, int], dict[str, int]]:
    """(rows carrying each warning code now, change per code since the previous run) of ``table``:
    the live rows whose legacy row is still mapped and whose latest load carried the code (a row
    counts once per code). Records the counts in ``etl.warning_state`` (a re-execution within one
    run keeps comparing with the run before). ``idle``: the table's step processed nothing and the
    run wrote nothing, so its warning codes, provenance and live rows are as the last evaluation
    counted them: those counts are kept instead of re-counted (a join of the id map, the warning
    codes and the table: 13 s over the tables of a no-change run at 100k patients)."""
    row = conn.execute("select counts, previous, run_id from etl.warning_state where canonical_table = %s",
                       (table,)).fetchone()
    if idle and row is not None:
        counts = {w: int(n) for w, n in row[0].items()}
    elif not _has_row_warnings(conn, table):
        counts = {}
    else:
        # a legacy row deleted on the legacy side keeps its map entry (history): count live rows only
        pk = conn.execute(_LIVE_KEY_SQL, (table,)).fetchone() if conn.execute(
            "select to_regclass(%s) is not null", (table,)).fetchone()[0] else None
        live = (sql.SQL("join {} as c on c.{} = m.canonical_id and c.deleted_at is null").format(
            table_ident(table), sql.Identifier(pk[0])) if pk else sql.SQL(""))
        query = sql.SQL(STANDING_WARNINGS_SQL).format(live=live)
        counts = {w: int(n) for w, n in conn.execute(query, (table,))}
    previous = {} if row is None else (row[1] if row[2] == run_id else row[0])
    conn.execute(
        """insert into etl.warning_state (canonical_table, counts, previous, run_id)
           values (%s, %s, %s, %s)
           on conflict (canonical_table) do update set counts = excluded.counts, previous = excluded.previous,
               run_id = excluded.run_id, evaluated_at = now()""",
        (table, Jsonb(counts), Jsonb(previous), run_id))
    change = {w: counts.get(w, 0) - int(previous.get(w, 0)) for w in sorted(set(counts) | set(previous))}
    return counts, {w: d for w, d in change.items() if d}


def quarantine(conn: psycopg.Connection, t: Target, run_id: str) -> int:
    """One ``ops.quarantine`` entry per legacy key and reason of ``_cand``; returns the entries written."""
    n = conn.execute(engine_sql("quarantine"), {"t": t.name, "run": run_id}).rowcount
    if n > ANALYZE_AFTER:
        conn.execute("analyze ops.quarantine")
    return n


def resolve(conn: psycopg.Connection, t: Target, run_id: str) -> int:
    """Resolve the open quarantine entries of processed keys (``_todo``) no candidate gives again."""
    conn.execute("set local enable_nestloop = off")  # hash joins whatever the statistics say
    try:
        return conn.execute(engine_sql("resolve"), {"t": t.name, "run": run_id}).rowcount
    finally:
        conn.execute("set local enable_nestloop = on")


def stale_ids(conn: psycopg.Connection, t: Target, *, has_sources: bool, whole: bool = False) -> None:
    """``_stale``: ids the processed legacy keys produced as LOADED so far, the candidates of
    :func:`soft_delete`. Taken before :func:`provenance` rewrites the map, so a key that now maps to
    another id (a merge, a regrouping) does not leave its old row live. "Processed" = the keys of
    ``_todo`` (all keys of a derived table) plus any key the transform re-emitted."""
    mapped_before = conn.execute(
        "select exists (select 1 from ops.legacy_id_map where canonical_table = %s)", (t.name,)).fetchone()[0]
    if not mapped_before:
        processed = None  # a first load: nothing was produced before, nothing can be stale
    elif has_sources and not whole:
        conn.execute(engine_sql("processed"))
        conn.execute("analyze _processed")
        processed = sql.SQL(
            "join _processed d on d.legacy_table = m.legacy_table and d.key = split_part(m.legacy_key, '#', 1)")
    else:
        # a whole-table run (apply_table runs a table only when an input changed, and then over every
        # key) or a derived table: every id produced before is a candidate, derived keys under no
        # legacy source (a lab test named only in reports) included
        processed = sql.SQL("")
    conn.execute(
        engine_query("stale", processed=processed or sql.SQL(""),
                     any=sql.SQL("true" if processed is not None else "false")),
        {"t": t.name},
    )


def new_rows(conn: psycopg.Connection, t: Target) -> int:
    """The LOADED rows of ``_ok`` the target does not hold yet (the upsert inserts them; the rest of
    what it writes are changed rows)."""
    return conn.execute(sql.SQL(
        "select count(*) from _ok as o where o._final = 'LOADED' and not exists "
        "(select 1 from {target} as t where t.{pk} = o.{pk})").format(
        target=t.ident, pk=sql.Identifier(t.pk))).fetchone()[0]


def upsert(conn: psycopg.Connection, t: Target, rows: int, *, actor: str = PIPELINE_ACTOR) -> int:
    """Write the LOADED rows of ``_ok``: insert new ones, update only rows that really differ (a
    no-change run writes nothing and ``updated_at`` does not move), un-delete rows that came back.
    ``rows`` (how many will be written) decides the bulk path (see :mod:`.bulk`): it inserts in
    primary-key order, so the one index it keeps grows at its right edge; into an empty table it
    needs no conflict handling at all (measured, 1M vitals rows: 4.3 s random order, 6.4 s with ON
    CONFLICT, 2.1 s in key order). Returns the rows written."""
    ident = sql.Identifier
    data_cols, compare_cols = t.data_cols, t.compare_cols
    cols_sql = sql.SQL(", ").join(ident(c) for c in data_cols)
    t_cmp = [sql.SQL("t.{}").format(ident(c)) for c in compare_cols]
    x_cmp = [sql.SQL("excluded.{}").format(ident(c)) for c in compare_cols]
    sets = [sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in compare_cols]
    if t.audited:
        t_cmp.append(sql.SQL("t.deleted_at"))
        x_cmp.append(sql.SQL("null::timestamptz"))
        sets += [sql.SQL("deleted_at = null"), sql.SQL("updated_by = excluded.updated_by")]
    insert_cols = sql.SQL(", ").join([cols_sql] + ([sql.SQL("created_by, updated_by")] if t.audited else []))
    insert_vals = sql.SQL(", ").join([cols_sql] + ([sql.SQL("%(actor)s, %(actor)s")] if t.audited else []))
    if sets:
        conflict = sql.SQL("do update set {} where ({}) is distinct from ({})").format(
            sql.SQL(", ").join(sets), sql.SQL(", ").join(t_cmp), sql.SQL(", ").join(x_cmp))
    else:
        conflict = sql.SQL("do nothing")
    deferred = bulk.defer(conn, t.name, keep_unique=True) if bulk.worth_it(conn, t.name, rows) else None
    empty = deferred is not None and not conn.execute(
        sql.SQL("select exists (select 1 from {})").format(t.ident)).fetchone()[0]
    statement = engine_query(
        "upsert", target=t.ident, insert_cols=insert_cols, insert_vals=insert_vals,
        order=sql.SQL("order by {}").format(ident(t.pk)) if deferred is not None else sql.SQL(""),
        on_conflict=sql.SQL("") if empty else sql.SQL("on conflict ({pk}) {conflict}").format(
            pk=ident(t.pk), conflict=conflict))
    written = conn.execute(statement, {"actor": actor}).rowcount
    if deferred is not None:
        bulk.restore(conn, deferred)
    if written > ANALYZE_AFTER:
        conn.execute(sql.SQL("analyze {}").format(t.ident))  # later transforms join it
    return written


def provenance(conn: psycopg.Connection, t: Target, run_id: str, rows: int) -> int:
    """Record every loaded or merged legacy key of ``_ok`` in this table's partition of
    ``ops.legacy_id_map`` (``rows``: how many; a large share goes the bulk way). Returns the map
    rows written."""
    p = {"t": t.name, "run": run_id}
    partition = conn.execute("select etl.id_map_partition(%s)::text", (t.name,)).fetchone()[0]
    if bulk.worth_it(conn, partition, rows):
        mapped = _provenance_bulk(conn, t, partition, p)
    else:
        mapped = conn.execute(engine_query("provenance", pk=sql.Identifier(t.pk)), p).rowcount
    if mapped > ANALYZE_AFTER:
        # fresh statistics, or the planner estimates one row and picks nested loops (minutes at 100k)
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(partition)))
    return mapped


def unmap(conn: psycopg.Connection, t: Target, sources: list[str]) -> int:
    """Remove this table's map entries that no candidate of this (whole-table) run gives any more: a
    legacy row now quarantined, or no longer emitted, has no provenance in a full load either. A
    legacy row deleted from the legacy side keeps its entry (history; its canonical row is
    soft-deleted). Returns the entries removed."""
    removed = 0
    staged = [s for s in sources
              if conn.execute("select to_regclass(%s) is not null", (f"stg.{s}",)).fetchone()[0]]
    for src in staged:
        removed += conn.execute(engine_query("unmap_source", stg=sql.Identifier("stg", src)),
                                {"t": t.name, "src": src}).rowcount
    removed += conn.execute(engine_sql("unmap_other"), {"t": t.name, "sources": staged}).rowcount
    return removed


def _provenance_bulk(conn: psycopg.Connection, t: Target, partition: str, p: dict) -> int:
    """Write a large share of one table's map rows (see :mod:`hms_pipeline.engine.bulk`): detach its
    partition, drop the partition's indexes, replace the rows whose mapping changed and add the new
    ones with two hash joins, rebuild the indexes and attach the partition again."""
    part = sql.SQL(partition)  # regclass text from etl.id_map_partition()
    pk = sql.Identifier(t.pk)
    conn.execute(sql.SQL("alter table ops.legacy_id_map detach partition {}").format(part))
    deferred = bulk.defer(conn, partition, keep_unique=False)
    conn.execute(engine_query("provenance_bulk_delete", part=part, pk=pk))
    mapped = conn.execute(engine_query("provenance_bulk_insert", part=part, pk=pk), p).rowcount
    bulk.restore(conn, deferred)
    # DDL takes no bound parameters: the bound value is a literal quoted by the driver
    conn.execute(sql.SQL("alter table ops.legacy_id_map attach partition {} for values in ({})")
                 .format(part, sql.Literal(t.name)))
    return mapped


def soft_delete(conn: psycopg.Connection, t: Target, *, actor: str = PIPELINE_ACTOR) -> int:
    """Soft-delete what no longer loads: ids in ``_stale`` that no LOADED row of ``_ok`` produces
    any more. Tables without ``deleted_at`` keep their rows. Returns the rows soft-deleted."""
    if not t.audited:
        return 0
    pk = sql.Identifier(t.pk)
    conn.execute(sql.SQL("delete from _stale s using _ok o where o.{pk} = s.canonical_id and o._final = 'LOADED'")
                 .format(pk=pk))
    return conn.execute(engine_query("soft_delete", target=t.ident, pk=pk), {"actor": actor}).rowcount
