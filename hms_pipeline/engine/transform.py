"""Apply one canonical table's transform, set-based, in one transaction.

1. ``_todo``: the staged legacy keys to process. The table's inputs are its spec's ``sources`` and
   ``deps`` plus every ``stg.*`` table its SQL (and the ``etl.*`` functions it calls) reads: when one changed (a staged change of a source since the sequence the table
   applied, or a write of an upstream table since the last one it saw), every key is processed, as a
   full load would (so a delta equals a full load: merges re-evaluated, derived values recomputed,
   children re-pointed); when none changed, nothing runs.
2. ``_cand``: the table's SQL file run over ``_todo`` (canonical columns + ``_legacy_table``,
   ``_legacy_key``, ``_disposition``, ``_reason``, ``_detail``).
3. The named steps of :mod:`hms_pipeline.engine.steps` (SQL in ``sql/engine/``), in this order:

   - **disposition**: per canonical id the first LOADED row carries the data, the rest are MERGED;
   - **preflight** (:mod:`hms_pipeline.engine.preflight`): the rows to be written are checked against
     every constraint of the target (NOT NULL, CHECK, column types, foreign keys, unique indexes) and
     the row rules of its GX suite; a row that would fail is quarantined with a reason code instead
     of failing the write;
   - **quarantine**: rows with a reason go to ``ops.quarantine`` (one entry per legacy key and reason);
   - **resolve**: quarantine entries of processed keys that no longer apply are resolved;
   - **record warnings**: the warning codes of the processed legacy rows (``etl.row_warnings``: the
     ``warnings`` check counts the standing state from it);
   - **stale ids**: the ids the processed keys produced before (candidates for the soft-delete);
   - **upsert**: insert new rows, update only rows that really differ (so a no-change run writes
     nothing and ``updated_at`` does not move), un-delete rows that came back;
   - **provenance**: every loaded or merged legacy key in ``ops.legacy_id_map``;
   - **soft-delete**: canonical rows whose legacy row disappeared (or no longer loads);
   - **refresh**: when rows were written, the materialized views over the table
     (``TableSpec.refreshes``, e.g. "view".stock_on_hand over pharmacy.inventory_txns), concurrently.
4. Remember the applied sequence and the run's figures.

A crash anywhere rolls the whole table back; the next run redoes it from the same ``_todo``. A
database error inside a step surfaces as a :class:`TransformError` naming the table, the step, the
SQLSTATE and the constraint, never a value (see :mod:`hms_pipeline.engine.errors`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from hms_pipeline.engine import audit_bulk
from hms_pipeline.engine import preflight as preflight_step
from hms_pipeline.engine import steps
from hms_pipeline.engine.errors import TransformError, guarded
from hms_pipeline.engine.faults import fault_point
from hms_pipeline.engine.rejects import quarantine_staging_rejects
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.steps import ANALYZE_AFTER, AUDIT_COLUMNS, PIPELINE_ACTOR, target_columns

__all__ = ["ANALYZE_AFTER", "AUDIT_COLUMNS", "PIPELINE_ACTOR", "ApplyStats", "TransformError", "apply_table",
           "bound_params", "full_todo", "session_settings", "snapshot_seq", "something_written", "stage_exists",
           "target_columns"]


@dataclass
class ApplyStats:
    table: str
    candidates: int = 0
    written: int = 0  # canonical rows inserted or changed (new + changed)
    new: int = 0  # of which inserted
    unchanged: int = 0
    quarantined: int = 0
    merged: int = 0
    soft_deleted: int = 0
    todo: int = 0
    warnings: dict = field(default_factory=dict)  # warn code -> rows loaded with it this run
    seconds: float = 0.0
    mapped: int = 0  # provenance rows written (a mapping change counts as a change for downstream tables)
    preflight_seconds: float = 0.0
    preflight: dict = field(default_factory=dict)  # reason code -> legacy rows the pre-flight quarantined
    rule_errors: list = field(default_factory=list)  # suite row rules the pre-flight could not evaluate
    step_seconds: dict = field(default_factory=dict)  # step name -> seconds

    def as_dict(self) -> dict:
        return asdict(self)


def stage_exists(conn: psycopg.Connection, legacy_table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"stg.{legacy_table}",)).fetchone()[0]


def snapshot_seq(conn: psycopg.Connection, run_id: str) -> int:
    row = conn.execute(
        """select snapshot_seq from etl.stage_runs
           order by (run_id = %s) desc, finished_at desc limit 1""",
        (run_id,),
    ).fetchone()
    if row is None:
        raise TransformError("no legacy snapshot has been staged yet: materialize etl/legacy_snapshot first")
    return row[0]


def something_written(conn, run_id: str) -> bool:
    """Did this run write anything yet (any canonical table, ref.codes included)? Quarantined rows
    are retried only then: with nothing new upstream, a retry would give the same verdict."""
    return conn.execute(
        "select exists (select 1 from etl.run_stats where run_id = %s and written + soft_deleted > 0)", (run_id,)
    ).fetchone()[0]


def session_settings(conn: psycopg.Connection, spec: TableSpec) -> None:
    """The transaction-local settings a table's transform runs under (UTC, its planner settings, the
    migration bypass)."""
    conn.execute("set local timezone = 'UTC'")
    for name, value in spec.planner:  # names checked against spec.PLANNER_SETTINGS; value bound
        conn.execute("select set_config(%s, %s, true)", (name, value))
    # The migration writes history (expired batches included): bypass the application-only
    # insert rule explicitly; the trigger records every bypassed row in ops.audit_log.
    conn.execute("set local hms.migration_bypass = 'on'")


def bound_params(spec: TableSpec, run_id: str, params: dict | None = None) -> dict:
    """The values bound into a table's transform."""
    return {"run_id": run_id, **spec.extra_params, **(params or {})}


def full_todo(conn: psycopg.Connection, spec: TableSpec, run_id: str) -> int:
    """``_todo`` as a full run builds it (every staged key of the table's sources); its size."""
    if not spec.sources:
        conn.execute("create temp table _todo (legacy_table text, key text) on commit drop")
        return 1
    return _build_todo(conn, spec, 0, snapshot_seq(conn, run_id), True)


def _build_todo(conn, spec: TableSpec, since: int, upto: int, full: bool, retry_quarantined: bool = True) -> int:
    """Temp table ``_todo``: one statement (a UNION of every source's changed or, on a full run, all
    staged keys, plus the keys still quarantined for this table)."""
    parts: list[sql.Composable] = []
    params: list = []
    for src in spec.sources:
        if not stage_exists(conn, src.legacy_table):
            continue
        stg = sql.Identifier("stg", src.legacy_table)
        if full:
            parts.append(sql.SQL("select %s::text, _key from {}").format(stg))
            params.append(src.legacy_table)
        else:
            parts.append(sql.SQL("select %s::text, _key from {} where _change_seq > %s and _change_seq <= %s").format(stg))
            params += [src.legacy_table, since, upto]
        if retry_quarantined:
            parts.append(sql.SQL(
                """select legacy_table, split_part(legacy_key, '#', 1) from ops.quarantine
                   where target_table = %s and legacy_table = %s and resolved_at is null"""))
            params += [spec.name, src.legacy_table]
    if not parts:
        parts.append(sql.SQL("select null::text, null::text where false"))
    conn.execute(sql.SQL("create temp table _todo (legacy_table, key) on commit drop as {}").format(
        sql.SQL(" union ").join(parts)), params)
    conn.execute("analyze _todo")  # no index: the transforms hash it (UNION made the keys unique)
    return conn.execute("select count(*) from _todo").fetchone()[0]


_STG_RE = re.compile(r"\bstg\.([a-z_][a-z0-9_]*)")
_ETL_CALL_RE = re.compile(r"\betl\.([a-z_][a-z0-9_]*)\s*\(")


def transform_inputs(conn: psycopg.Connection, spec: TableSpec) -> list[str]:
    """Every staged legacy table the table's result depends on: its spec's sources, every ``stg.<t>``
    its transform names, and every one the ``etl.*`` functions it calls name (followed through the
    functions they call). Read from the SQL itself, so an input cannot be forgotten in the spec."""
    text = spec.sql_path.read_text(encoding="utf-8")
    tables = {s.legacy_table for s in spec.sources} | set(_STG_RE.findall(text))
    seen: set[str] = set()
    todo = set(_ETL_CALL_RE.findall(text))
    while todo:
        fn = todo.pop()
        seen.add(fn)
        for (body,) in conn.execute(
                "select prosrc from pg_proc where pronamespace = 'etl'::regnamespace and proname = %s", (fn,)).fetchall():
            tables |= set(_STG_RE.findall(body))
            todo |= set(_ETL_CALL_RE.findall(body)) - seen
    return sorted(tables)


def _source_changed(conn: psycopg.Connection, spec: TableSpec, since: int, upto: int) -> bool:
    """Did any legacy input of the table (:func:`transform_inputs`) stage a change in (since, upto]?"""
    for table in transform_inputs(conn, spec):
        if stage_exists(conn, table) and conn.execute(
                sql.SQL("select exists (select 1 from {} where _change_seq > %s and _change_seq <= %s)")
                .format(sql.Identifier("stg", table)), (since, upto)).fetchone()[0]:
            return True
    return False


def apply_table(conn: psycopg.Connection, spec: TableSpec, run_id: str, *, full: bool = False,
                params: dict | None = None, row_rules: Sequence[Any] = ()) -> ApplyStats:
    """Apply ``spec``'s transform for ``run_id`` in one transaction. ``row_rules``: the row-level
    ERROR rules of the table's suite, checked by the pre-flight (see
    :func:`hms_pipeline.engine.preflight.as_row_rules` for the accepted forms)."""
    started = time.monotonic()
    stats = ApplyStats(spec.name)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (spec.name,))
        session_settings(conn, spec)
        audit_bulk.mute_rows(conn, run_id)  # one audit row per table per run, not per row
        upto = snapshot_seq(conn, run_id)
        row = conn.execute("select applied_seq, upstream_seen_at from etl.apply_state where canonical_table = %s",
                           (spec.name,)).fetchone()
        since = 0 if (full or row is None) else row[0]
        upstream_at = conn.execute(
            "select max(changed_at) from etl.table_changes where canonical_table = any(%s)", (list(spec.deps),)
        ).fetchone()[0]
        if spec.sources:
            # Dependent re-derivation: when any input of the table changed (a staged change of one of
            # its legacy sources, or a write of one of its upstream tables since the last one it saw),
            # the transform runs over every key, exactly as a full load would: merges are re-evaluated
            # (and can split), derived values recomputed, children re-pointed. The upsert still writes
            # only what differs. With no input changed, nothing runs.
            upstream = upstream_at is not None and (row is None or row[1] is None or upstream_at > row[1])
            whole = full or row is None or upstream or _source_changed(conn, spec, since, upto)
            stats.todo = _build_todo(conn, spec, since, upto, whole, retry_quarantined=whole) if whole else 0
            if not whole:
                conn.execute("create temp table _todo (legacy_table text, key text) on commit drop")
        else:
            # Derived tables (vocabularies, settings) have no legacy rows of their own: recompute them
            # whole every run; the upsert still writes only what changed.
            conn.execute("create temp table _todo (legacy_table text, key text) on commit drop")
            stats.todo = 1

        if stats.todo:
            _apply_candidates(conn, spec, run_id, params or {}, stats, row_rules)
            if not spec.merges:
                conn.execute("drop view _ok")  # a temp view outlives the transaction; _cand does not
            if stats.written + stats.soft_deleted > 0:
                _refresh_views(conn, spec, stats)
            fault_point(spec.name)
        # after the transform's own resolve step: legacy rows and values staging set aside
        stats.quarantined += quarantine_staging_rejects(conn, spec, run_id)

        conn.execute(
            """insert into etl.apply_state (canonical_table, applied_seq, run_id, upstream_seen_at)
               values (%s, %s, %s, %s)
               on conflict (canonical_table) do update set applied_seq = excluded.applied_seq,
                   run_id = excluded.run_id, upstream_seen_at = excluded.upstream_seen_at, updated_at = now()""",
            (spec.name, upto, run_id, upstream_at),
        )
        stats.seconds = round(time.monotonic() - started, 3)
        conn.execute(
            """insert into etl.run_stats (run_id, canonical_table, candidates, written, unchanged,
                   quarantined, merged, soft_deleted, seconds, mapped, new_rows)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (run_id, canonical_table) do update set candidates = excluded.candidates,
                   written = excluded.written, unchanged = excluded.unchanged,
                   quarantined = excluded.quarantined, merged = excluded.merged,
                   soft_deleted = excluded.soft_deleted, seconds = excluded.seconds, mapped = excluded.mapped,
                   new_rows = excluded.new_rows, recorded_at = now()""",
            (run_id, spec.name, stats.candidates, stats.written, stats.unchanged, stats.quarantined,
             stats.merged, stats.soft_deleted, stats.seconds, stats.mapped, stats.new),
        )
        audit_bulk.record(conn, spec.name, run_id, stats)
    return stats


def _refresh_views(conn: psycopg.Connection, spec: TableSpec, stats: ApplyStats) -> None:
    """Refresh the materialized views over the table (``spec.refreshes``) concurrently, inside the
    table's transaction: readers keep the old contents until it commits with the rows."""
    for view in spec.refreshes:
        began = time.monotonic()
        schema, name = view.split(".")
        guarded(spec.name, f"refresh {view}", conn.execute,
                sql.SQL("refresh materialized view concurrently {}").format(sql.Identifier(schema, name)))
        stats.step_seconds[f"refresh {view}"] = round(time.monotonic() - began, 3)


def _apply_candidates(conn: psycopg.Connection, spec: TableSpec, run_id: str, params: dict, stats: ApplyStats,
                      row_rules: Sequence[Any] = ()) -> None:
    """The steps of the module doc over this transaction's ``_todo``; figures go to ``stats``."""
    name = spec.name

    def step(label: str, fn, *args, **kwargs):
        began = time.monotonic()
        try:
            return guarded(name, label, fn, *args, **kwargs)
        finally:
            stats.step_seconds[label] = round(stats.step_seconds.get(label, 0.0) + time.monotonic() - began, 3)

    bound = bound_params(spec, run_id, params)
    step(f"transform {spec.sql_path.name}", steps.load_candidates, conn, spec.sql_path, bound)
    t = step("describe", steps.describe, conn, name, merges=spec.merges, append_only=spec.append_only)
    step("disposition", steps.disposition, conn, t)
    checked = step("preflight", preflight_step.preflight, conn, t, row_rules)
    stats.preflight_seconds = stats.step_seconds["preflight"]
    stats.preflight, stats.rule_errors = checked.quarantined, checked.rule_errors
    stats.quarantined = step("quarantine", steps.quarantine, conn, t, run_id)
    step("resolve", steps.resolve, conn, t, run_id)
    stats.candidates, stats.merged, stats.warnings = step("tally", steps.tally, conn)
    step("record warnings", steps.record_warnings, conn, t, run_id)
    step("stale ids", steps.stale_ids, conn, t, has_sources=bool(spec.sources), whole=True)
    stats.new = step("new rows", steps.new_rows, conn, t) if stats.candidates else 0
    stats.written = step("upsert", steps.upsert, conn, t, stats.candidates)
    stats.unchanged = stats.candidates - stats.written
    mapped_before = conn.execute(
        "select exists (select 1 from ops.legacy_id_map where canonical_table = %s)", (name,)).fetchone()[0]
    stats.mapped = step("provenance", steps.provenance, conn, t, run_id, stats.candidates + stats.merged) or 0
    if mapped_before and spec.sources:
        stats.mapped += step("unmap", steps.unmap, conn, t, [s.legacy_table for s in spec.sources])
    stats.soft_deleted = step("soft-delete", steps.soft_delete, conn, t)
