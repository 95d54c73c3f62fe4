"""Tables written by a script instead of a candidate SELECT (``TableSpec.kind == "script"``).

``ref.codes`` is reference data keyed by (code, system), without a uuid primary key or soft
deletes: its SQL file inserts the pipeline's explicit vocabulary mappings and the legacy ``ref_code``
rows itself, and maps the legacy rows in ``ops.legacy_id_map``. The engine runs it in one
transaction and records it like any table, so a mapping change counts as something written (it
makes quarantined rows of later tables retry).

A script table takes contributions: every ``*.sql`` file in ``sql/<schema>/<table>.d/`` runs after
the main script, in name order. A domain adds its vocabulary mappings (or a reviewer's decisions)
as a file of its own there, e.g. ``sql/ref/codes.d/pharmacy.sql``, without editing another
domain's file."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.engine import audit_bulk
from hms_pipeline.engine.reconcile import Reconciliation, SourceFigures
from hms_pipeline.engine.rejects import quarantine_staging_rejects, reject_figures
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.transform import ApplyStats, stage_exists
from hms_pipeline.sqlrun import run_sql_file

_CONTENT = "select count(*), md5(string_agg(concat_ws('|', {cols}), ',' order by {cols})) from {t}"
_SOURCE = """
select count(*), count(m.legacy_key), count(*) filter (where m.legacy_key is null and q.k is not null)
from {stg} s
left join ops.legacy_id_map m
  on m.legacy_table = %(src)s and m.legacy_key = s._key and m.canonical_table = %(t)s
left join (select distinct legacy_key as k from ops.quarantine
           where legacy_table = %(src)s and target_table = %(t)s and resolved_at is null) q on q.k = s._key
where not s._deleted
"""


def script_files(spec: TableSpec) -> list[Path]:
    """The main script, then its contributions (``<table>.d/*.sql``, by name)."""
    main = spec.sql_path
    return [main, *sorted(main.with_suffix(".d").glob("*.sql"))]


def _content(conn, spec: TableSpec) -> tuple:
    cols = [r[0] for r in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (spec.name,)).fetchall()]
    ident = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    return conn.execute(sql.SQL(_CONTENT).format(cols=ident, t=sql.Identifier(spec.schema, spec.table))).fetchone()


def apply_script(conn: psycopg.Connection, spec: TableSpec, run_id: str) -> ApplyStats:
    started = time.monotonic()
    stats = ApplyStats(spec.name)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    with conn.transaction():
        conn.execute("select set_config('hms.run_id', %s, true)", (run_id,))
        audit_bulk.mute_rows(conn, run_id)  # one audit row per table per run, not per row
        before = _content(conn, spec)
        conn.execute("select etl.id_map_partition(%s)", (spec.name,))  # the script maps its legacy rows
        for path in script_files(spec):
            run_sql_file(conn, path)
        quarantine_staging_rejects(conn, spec, run_id)
        after = _content(conn, spec)
        stats.candidates = after[0]
        stats.written = 0 if before == after else abs(after[0] - before[0]) or 1
        stats.unchanged = stats.candidates - stats.written
        stats.seconds = round(time.monotonic() - started, 3)
        conn.execute(
            """insert into etl.run_stats (run_id, canonical_table, candidates, written, unchanged, quarantined,
                                          merged, soft_deleted, seconds)
               values (%s, %s, %s, %s, %s, 0, 0, 0, %s)
               on conflict (run_id, canonical_table) do update set candidates = excluded.candidates,
                   written = excluded.written, unchanged = excluded.unchanged, seconds = excluded.seconds""",
            (run_id, spec.name, stats.candidates, stats.written, stats.unchanged, stats.seconds),
        )
        audit_bulk.record(conn, spec.name, run_id, stats)
    return stats


def reconcile_script(conn: psycopg.Connection, spec: TableSpec) -> Reconciliation:
    """Every legacy row of each source is mapped or quarantined by the script (staging's rejects:
    quarantined by the engine, see :mod:`hms_pipeline.engine.rejects`)."""
    figures = []
    for src in spec.sources:
        if not stage_exists(conn, src.legacy_table):
            continue
        seen, mapped, quarantined = conn.execute(
            sql.SQL(_SOURCE).format(stg=sql.Identifier("stg", src.legacy_table)),
            {"src": src.legacy_table, "t": spec.name}).fetchone()
        rejected, rejects_quarantined = reject_figures(conn, spec, src.legacy_table)
        seen, quarantined = seen + rejected, quarantined + rejects_quarantined
        reasons = dict(conn.execute(
            """select reason_code, count(*) from ops.quarantine where legacy_table = %s and target_table = %s
               and resolved_at is null group by 1 order by 1""", (src.legacy_table, spec.name)).fetchall())
        figures.append(SourceFigures(src.legacy_table, seen, mapped, 0, quarantined,
                                     seen - mapped - quarantined, reasons))
    conn.rollback()
    return Reconciliation(spec.name, figures, {})
