"""The monitors of the cutover checklist (issue #14), without Dagster: each is one SQL file in
``sql/monitors/<name>.sql`` returning one figure, compared with a threshold from the settings.

Used by the ``monitors`` asset checks and schedule (``hms_pipeline/defs/monitors``), by ``cutover
checklist`` (item "monitors active") and by ``cutover teardown`` (a red monitor refuses it). Each run
is recorded in ``etl.monitor_runs``; ``quarantine_growth`` compares with its previous run there.
Figures are counts and shares only, never a value of a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg

from hms_pipeline.paths import SQL_DIR
from hms_pipeline.sqlrun import read_sql

MONITOR_DIR = SQL_DIR / "monitors"


@dataclass(frozen=True)
class Monitor:
    name: str
    asset: tuple[str, str]  # the canonical asset the check is attached to
    description: str
    reads: tuple[tuple[str, str], ...] = ()  # other assets its SQL reads (the check runs after them)


MONITORS: tuple[Monitor, ...] = (
    Monitor("invoice_drift", ("billing", "invoices"),
            "invoices whose paid/due amounts drift from their payments/lines (or PAID while unpaid) by more "
            "than HMS_MONITOR_INVOICE_DRIFT", (("billing", "payments"), ("billing", "invoice_lines"))),
    Monitor("negative_stock", ("pharmacy", "inventory_txns"),
            "(facility, item, batch) with a negative stock on hand"),
    Monitor("admission_without_bed", ("inpatient", "admissions"),
            "admissions not discharged without an open bed allocation", (("inpatient", "bed_allocations"),)),
    Monitor("open_encounters", ("clinical", "encounters"),
            "encounters open for more than HMS_MONITOR_OPEN_ENCOUNTER_DAYS days"),
    Monitor("quarantine_growth", ("ops", "quarantine"),
            "growth of the unresolved quarantine since the previous monitor run, as a share "
            "(HMS_MONITOR_QUARANTINE_GROWTH)"),
)


def _figure(conn: psycopg.Connection, name: str, params: dict) -> float:
    return float(conn.execute(read_sql(MONITOR_DIR / f"{name}.sql"), params).fetchone()[0])  # type: ignore[arg-type]  # our own file


def evaluate(conn: psycopg.Connection, monitor: Monitor, settings) -> dict:
    """One monitor's result: ``{name, asset, ok, figure, threshold, description, detail}``."""
    detail: dict = {}
    if monitor.name == "invoice_drift":
        figure, threshold = _figure(conn, monitor.name, {"drift": settings.monitor_invoice_drift}), 0.0
        detail["tolerance"] = settings.monitor_invoice_drift
    elif monitor.name == "open_encounters":
        figure, threshold = _figure(conn, monitor.name, {"days": settings.monitor_open_encounter_days}), 0.0
        detail["days"] = settings.monitor_open_encounter_days
    elif monitor.name == "quarantine_growth":
        count = _figure(conn, monitor.name, {})
        prev = conn.execute(
            """select (detail ->> 'count')::numeric from etl.monitor_runs
               where name = 'quarantine_growth' order by monitor_run_id desc limit 1""").fetchone()
        previous = float(prev[0]) if prev and prev[0] is not None else None
        if previous is None:
            figure = 0.0  # the first run is the baseline
        elif previous == 0:
            figure = 0.0 if count == 0 else float("inf")
        else:
            figure = round((count - previous) / previous, 4)
        threshold = settings.monitor_quarantine_growth
        detail.update(count=count, previous=previous)
    else:
        figure, threshold = _figure(conn, monitor.name, {}), 0.0
    return {"name": monitor.name, "asset": "/".join(monitor.asset), "ok": figure <= threshold,
            "figure": figure, "threshold": threshold, "description": monitor.description, "detail": detail}


def run_monitors(conn: psycopg.Connection, settings, *, record: bool = True,
                 names: list[str] | None = None) -> list[dict]:
    """Evaluate every monitor (or ``names``) and, with ``record``, append each result to
    ``etl.monitor_runs`` (committed by the caller's transaction)."""
    out = []
    for monitor in MONITORS:
        if names is not None and monitor.name not in names:
            continue
        result = evaluate(conn, monitor, settings)
        if record:
            figure = result["figure"] if result["figure"] != float("inf") else 1e18
            conn.execute("insert into etl.monitor_runs (name, figure, threshold, ok, detail) values (%s, %s, %s, %s, %s)",
                         (monitor.name, figure, result["threshold"], result["ok"], json.dumps(result["detail"])))
        out.append(result)
    return out


def describe(result: dict) -> str:
    state = "ok" if result["ok"] else "RED"
    figure = result["figure"]
    shown = "new rows from none" if figure == float("inf") else f"{figure:g}"
    return f"{result['name']} ({result['asset']}): {state}, figure {shown} (tolerated {result['threshold']:g}): {result['description']}"
