"""The validation report of one run: ``<reports dir>/<run id>/``.

- ``index.html``: self-contained page (inline CSS, no scripts, no external assets) a reviewer opens
  in a browser: phase gates, then per canonical table the legacy rows seen, loaded, merged,
  quarantined by reason, live rows, this run's figures and the checks with what failed; when the
  run touched billing, the finance section (:mod:`.finance`: legacy vs migrated money by bill type,
  method and month, differences by quarantine reason, open credit, refunds, the money checks, a
  chart);
- ``summary.json``: the same figures for machines (``hms-pipeline report --json``);
- ``gx/``: GX Data Docs of the suites and their validation results, built offline from the
  sanitized results (GX's pages load Bootstrap/jQuery from CDNs: without internet they open
  unstyled but complete; ``index.html`` does not depend on them);
- ``checks/<table>.json``: the suite outcomes the checks wrote during the run (input).

Figures come from ``etl.run_stats`` (this run), ``ops.legacy_id_map`` and ``ops.quarantine`` (state
after the run) and the tables themselves (live / soft-deleted rows). Only counts, reason codes,
expectation names and legacy keys (hashed unless surrogate) are written, and in the finance section
amounts, bill numbers, bill types, methods and months: see :mod:`.phi`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from hms_pipeline.legacy import dispositions
from hms_pipeline.quality import finance, gx_import, report_extras
from hms_pipeline.quality.checks import CHECK_NAME, SUITE_CHECK_NAMES, run_dir
from hms_pipeline.quality.finance import render_finance
from hms_pipeline.quality.gx_runner import SuiteOutcome
from hms_pipeline.quality.phi import hmac_key, mask_key
from hms_pipeline.quality.suites import suite_tables

log = logging.getLogger(__name__)

DEFAULT_PHASE = "backfill"
SAMPLE_KEYS = 5


@dataclass
class CheckRecord:
    """Any other check of the run (e.g. the engine's ``reconciliation``), as the report shows it."""

    table: str
    check: str
    passed: bool
    blocking: bool = True
    severity: str = "ERROR"  # or WARN
    description: str = ""

    @property
    def blocks(self) -> bool:
        """This result stops the next phase: a failed blocking check with ERROR severity."""
        return self.blocking and not self.passed and self.severity == "ERROR"


def check_records_from_instance(instance, run_id: str, *,
                                exclude: Sequence[str] = SUITE_CHECK_NAMES) -> list[CheckRecord]:
    """The run's asset check evaluations from the Dagster event log (suite checks excluded by default:
    their detail comes from ``checks/*.json``). Descriptions are the checks' own PHI-free text."""
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    out = []
    for rec in records:
        ev = rec.event_log_entry.dagster_event.event_specific_data
        if ev.check_name in exclude:
            continue
        out.append(CheckRecord(
            table=".".join(ev.asset_key.path),
            check=ev.check_name,
            passed=bool(ev.passed),
            blocking=bool(ev.blocking),
            severity="ERROR" if ev.severity == dg.AssetCheckSeverity.ERROR else "WARN",
            description=(ev.description or "")[:300],
        ))
    return out


# --- figures from the database ------------------------------------------------------------------------


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def _columns(conn: psycopg.Connection, name: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped", (name,))}


# README "Figures": a table's legacy rows as of the run's snapshot
FIGURES = ("legacy_rows_seen", "legacy_rows_loaded", "legacy_rows_merged", "legacy_rows_quarantined",
           "values_quarantined")


def table_figures(conn: psycopg.Connection, run_id: str, tables: Iterable[str], *, key: bytes,
                  sample_keys: int = SAMPLE_KEYS) -> dict[str, dict[str, Any]]:
    """Per canonical table: provenance (cumulative), this run's engine figures, live rows."""
    figures: dict[str, dict[str, Any]] = {}
    for t in sorted(set(tables)):
        if not _exists(conn, t):
            continue
        cols = _columns(conn, t)
        ident = sql.Identifier(*t.split("."))
        if "deleted_at" in cols:
            live, deleted = conn.execute(sql.SQL(
                "select count(*) filter (where deleted_at is null), count(*) filter (where deleted_at is not null) from {}"
            ).format(ident)).fetchone()
        else:
            live, deleted = conn.execute(sql.SQL("select count(*), 0 from {}").format(ident)).fetchone()
        figures[t] = {"table": t, "live_rows": live, "soft_deleted_rows": deleted, **dict.fromkeys(FIGURES, 0),
                      "quarantined_by_reason": {}, "quarantine_samples": [], "legacy_sources": [], "this_run": None}

    # the legacy rows' figures are the table's latest reconciliation (README "Figures"): the same
    # numbers the asset's metadata and its reconciliation check showed
    if _exists(conn, "etl.reconcile_state"):
        for t, recon in conn.execute(
                "select canonical_table, figures from etl.reconcile_state where canonical_table = any(%s)",
                (sorted(figures),)).fetchall():
            for src in recon.get("sources", []):
                f = figures[t]
                f["legacy_rows_seen"] += src["seen"]
                f["legacy_rows_loaded"] += src["loaded"]
                f["legacy_rows_merged"] += src["merged"]
                f["legacy_rows_quarantined"] += src["quarantined"]
                f["values_quarantined"] += src.get("values_quarantined", 0)
                f["legacy_sources"].append({k: src.get(k, 0) for k in (
                    "legacy_table", "seen", "loaded", "merged", "quarantined", "values_quarantined", "missing")})
    if _exists(conn, "ops.quarantine"):
        for t, reason, n in conn.execute("""
                select target_table, reason_code, count(distinct (legacy_table, split_part(legacy_key, '#', 1)))
                from ops.quarantine where resolved_at is null group by 1, 2 order by 1, 2""").fetchall():
            if t in figures:
                figures[t]["quarantined_by_reason"][reason] = n
        for t, legacy_table, reason, legacy_key in conn.execute("""
                select target_table, legacy_table, reason_code, legacy_key from (
                    select target_table, legacy_table, reason_code, legacy_key,
                           row_number() over (partition by target_table, reason_code
                                              order by legacy_table, legacy_key) as rn
                    from ops.quarantine where resolved_at is null
                ) q where rn <= %s order by 1, 3, 2, 4""", (sample_keys,)).fetchall():
            if t in figures:
                figures[t]["quarantine_samples"].append(
                    {"legacy_table": legacy_table, "legacy_key": mask_key(legacy_table, legacy_key, key), "reason_code": reason})

    if _exists(conn, "etl.run_stats"):
        for row in conn.execute("""
                select canonical_table, candidates, written, unchanged, quarantined, merged, soft_deleted, seconds,
                       new_rows
                from etl.run_stats where run_id = %s""", (run_id,)).fetchall():
            t = row[0]
            if t in figures:
                figures[t]["this_run"] = {  # README "Figures": canonical rows written by the run
                    "rows_written": row[2], "rows_new": row[8], "rows_changed": row[2] - row[8],
                    "rows_unchanged": row[3], "rows_soft_deleted": row[6], "candidates": row[1],
                    "seconds": float(row[7]),
                }
    conn.rollback()
    return figures


def _tables_with_stats(conn: psycopg.Connection, run_id: str) -> list[str]:
    if not _exists(conn, "etl.run_stats"):
        return []
    rows = conn.execute("select canonical_table from etl.run_stats where run_id = %s", (run_id,)).fetchall()
    conn.rollback()
    return [r[0] for r in rows]


# --- assembling the summary -------------------------------------------------------------------------------


def load_outcomes(folder: Path) -> list[SuiteOutcome]:
    return [SuiteOutcome.read(p) for p in sorted((Path(folder) / "checks").glob("*.json"))]


def _suite_entry(o: SuiteOutcome) -> dict[str, Any]:
    c = o.counts()
    return {
        "check": CHECK_NAME,
        "status": o.status,  # passed | warn | failed
        "blocking": o.blocking,
        "blocks": o.blocks,
        "severity": o.severity,
        "seconds": round(o.seconds, 3),
        "expectations": c["expectations"],
        "expectations_passed": c["passed"],
        "failed_error": c["failed_error"],
        "failed_warn": c["failed_warn"],
        "skipped": c["skipped"],
        "failures": [
            {"severity": e.severity, "expectation": e.label, "type": e.type, "status": e.status,
             "unexpected_count": e.count, "unexpected_percent": e.unexpected_percent, "note": e.note, "why": e.why}
            for e in sorted(o.expectations, key=lambda e: (e.severity != "ERROR", e.index))
            if e.failed or e.status == "skipped"
        ],
    }


def build_summary(run_id: str, figures: Mapping[str, dict], outcomes: Sequence[SuiteOutcome],
                  checks: Sequence[CheckRecord], phases: Mapping[str, str] | None,
                  phase_order: Sequence[str] | None) -> dict[str, Any]:
    by_table_outcome = {o.table: o for o in outcomes}
    by_table_checks: dict[str, list[CheckRecord]] = defaultdict(list)
    for c in checks:
        by_table_checks[c.table].append(c)
    tables = sorted(set(figures) | set(by_table_outcome) | set(by_table_checks))
    phases = dict(phases or {})
    phase_of = {t: phases.get(t, DEFAULT_PHASE) for t in tables}

    table_entries = []
    for t in tables:
        entry = dict(figures.get(t) or {"table": t})
        entry["phase"] = phase_of[t]
        entry["checks"] = [
            {"check": c.check, "passed": c.passed, "blocking": c.blocking, "blocks": c.blocks,
             "severity": c.severity, "description": c.description}
            for c in by_table_checks.get(t, [])
        ]
        entry["suite"] = _suite_entry(by_table_outcome[t]) if t in by_table_outcome else None
        entry["blocks"] = any(c["blocks"] for c in entry["checks"]) or bool(entry["suite"] and entry["suite"]["blocks"])
        table_entries.append(entry)

    order = list(phase_order or [])
    order += [p for p in dict.fromkeys(phase_of.values()) if p not in order]
    phase_entries = []
    for p in order:
        members = [e for e in table_entries if e["phase"] == p]
        if not members and p not in (phase_order or []):
            continue
        ran = sum(len(e["checks"]) + (1 if e["suite"] else 0) for e in members)
        blocked_by = [e["table"] for e in members if e["blocks"]]
        status = "failed" if blocked_by else ("passed" if ran else "not run")
        phase_entries.append({"phase": p, "status": status, "tables": len(members), "checks_run": ran,
                              "blocked_by": blocked_by})
    for i, ph in enumerate(phase_entries):
        ph["blocks_next"] = ph["status"] == "failed" and i + 1 < len(phase_entries)

    blocking_failed = any(e["blocks"] for e in table_entries)
    all_outcomes = list(by_table_outcome.values())
    return {
        "run_id": run_id,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "failed" if blocking_failed else "passed",
        "blocking_failed": blocking_failed,
        "totals": {
            "tables": len(table_entries),
            "suites_run": len(all_outcomes),
            "suites_failed": sum(o.blocks for o in all_outcomes),
            "suites_warned": sum(o.status == "warn" for o in all_outcomes),
            "expectations_failed_error": sum(len(o.error_failures) for o in all_outcomes),
            "expectations_failed_warn": sum(len(o.warn_failures) for o in all_outcomes),
            "checks_failed": sum(not c.passed for c in checks),
            "quarantined": sum(e.get("legacy_rows_quarantined", 0) for e in table_entries),
            "gx_seconds": round(sum(o.seconds for o in all_outcomes), 3),
        },
        "phases": phase_entries,
        "tables": table_entries,
    }


# --- rendering ---------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232a}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px} h3{font-size:14px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px} th,td{border:1px solid #d5dbe1;padding:4px 8px;vertical-align:top}
th{background:#f1f4f7;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#116329;font-weight:600} .bad{color:#b42318;font-weight:600} .warn{color:#9a6700;font-weight:600}
.muted{color:#5b6570} .pill{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600}
.pill.ok{background:#dafbe1} .pill.bad{background:#ffebe9} .pill.warn{background:#fff8c5} .pill.muted{background:#eef1f4}
code{font-size:12px}
table.fin tr.total td{font-weight:600;border-top:2px solid #8c959f} td.n.bad{background:#ffebe9}
#fin-chart{display:block;margin:6px 0 4px;max-width:100%;height:auto}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _pill(status: str) -> str:
    cls = {"passed": "ok", "failed": "bad", "warn": "warn"}.get(status, "muted")
    return f'<span class="pill {cls}">{_e(status)}</span>'


def _num(table: str, col: str, v: Any) -> str:
    return f'<td class="n" data-table="{_e(table)}" data-col="{_e(col)}">{_e("" if v is None else v)}</td>'


def render_html(summary: Mapping[str, Any], *, data_docs: str | None) -> str:
    s = summary
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Validation report {_e(s['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Validation report {_pill(s['status'])}</h1>",
        f"<p class='muted'>run <code id='run-id'>{_e(s['run_id'])}</code> · generated {_e(s['generated_at'])}"
        f" · GX suites took {_e(s['totals']['gx_seconds'])} s</p>",
    ]
    t = s["totals"]
    out.append(
        f"<p id='totals'>{t['tables']} tables · {t['suites_run']} suites run, {t['suites_failed']} failed, "
        f"{t['suites_warned']} with warnings · "
        f"{t['expectations_failed_error']} ERROR and {t['expectations_failed_warn']} WARN expectations failed · "
        f"{t['checks_failed']} other checks failed · {t['quarantined']} legacy rows quarantined whole "
        "(a row of which only some values were quarantined counts as loaded; see 'by reason')</p>")
    if data_docs:
        out.append(f"<p><a href='{_e(data_docs)}'>GX Data Docs for the suites</a> "
                   "<span class='muted'>(styled only with internet access)</span></p>")
    earlier = s.get("data_docs_of_earlier_runs") or []
    if earlier:
        links = ", ".join(f"<a href='../{_e(r)}/gx/index.html'>{_e(r[:8])}</a>" for r in earlier)
        out.append(f"<p class='muted'>Suites whose data did not change were not re-run; their GX Data Docs: "
                   f"{links}</p>")
    if s.get("finance"):
        out.append("<p><a href='#finance'>Finance: billed and received, legacy vs migrated</a></p>")

    out.append("<h2>Phase gates</h2><table id='phases'><tr><th>phase</th><th>gate</th><th>tables</th>"
               "<th>checks run</th><th>blocked by</th></tr>")
    for ph in s["phases"]:
        out.append(f"<tr data-phase='{_e(ph['phase'])}'><td>{_e(ph['phase'])}</td><td>{_pill(ph['status'])}"
                   f"{'<br><span class=bad>next phase blocked</span>' if ph['blocks_next'] else ''}</td>"
                   f"<td class='n'>{ph['tables']}</td><td class='n'>{ph['checks_run']}</td>"
                   f"<td>{_e(', '.join(ph['blocked_by']))}</td></tr>")
    out.append("</table>")

    out.append("<h2>Tables</h2><p class='muted'>Legacy rows as of the run's snapshot: each one seen is loaded, "
               "merged into another's row or quarantined whole; values quarantined: loaded rows with a value "
               "refused. Canonical rows this run: new + changed = written (README \"Figures\").</p>"
               "<table id='tables'><tr><th>table</th><th>phase</th><th>legacy rows seen</th>"
               "<th>loaded</th><th>merged</th><th>quarantined (whole rows)</th><th>values quarantined</th>"
               "<th>quarantined by reason (rows with any quarantined value)</th><th>live rows</th>"
               "<th>this run: new / changed / unchanged / soft-deleted</th><th>checks</th></tr>")
    for e in s["tables"]:
        tn = e["table"]
        run = e.get("this_run")
        run_txt = (f"{run['rows_new']} / {run['rows_changed']} / {run['rows_unchanged']} / {run['rows_soft_deleted']}"
                   if run else "—")
        checks = []
        for c in e["checks"]:
            state = "passed" if c["passed"] else ("failed" if c["severity"] == "ERROR" else "warn")
            checks.append(f"{_e(c['check'])} {_pill(state)}")
        if e["suite"]:
            su = e["suite"]
            checks.append(f"suite {_pill(su['status'])} "
                          f"<span class='muted'>{su['expectations_passed']}/{su['expectations']}</span>")
        out.append(
            f"<tr data-table='{_e(tn)}'><td><a href='#t-{_e(tn)}'>{_e(tn)}</a></td><td>{_e(e['phase'])}</td>"
            + _num(tn, "legacy_rows_seen", e.get("legacy_rows_seen"))
            + _num(tn, "legacy_rows_loaded", e.get("legacy_rows_loaded"))
            + _num(tn, "legacy_rows_merged", e.get("legacy_rows_merged"))
            + _num(tn, "legacy_rows_quarantined", e.get("legacy_rows_quarantined"))
            + _num(tn, "values_quarantined", e.get("values_quarantined"))
            + "<td>" + "<br>".join(f"<code>{_e(r)}</code> {_e(n)}"
                                   for r, n in (e.get("quarantined_by_reason") or {}).items()) + "</td>"
            + _num(tn, "live_rows", e.get("live_rows"))
            + f"<td class='n'>{_e(run_txt)}</td><td>{'<br>'.join(checks) or '—'}</td></tr>")
    out.append("</table>")

    out.append("<h2>Details</h2>")
    for e in s["tables"]:
        tn = e["table"]
        interesting = (e.get("quarantined_by_reason") or (e["suite"] and e["suite"]["failures"])
                       or any(not c["passed"] for c in e["checks"]))
        if not interesting:
            continue
        out.append(f"<h3 id='t-{_e(tn)}'>{_e(tn)}</h3>")
        for c in e["checks"]:
            if not c["passed"]:
                out.append(f"<p>{_e(c['check'])} {_pill('failed')} <span class='muted'>{_e(c['description'])}</span></p>")
        if e["suite"] and e["suite"]["failures"]:
            out.append(f"<table class='failures' data-table='{_e(tn)}'><tr><th>severity</th><th>expectation</th>"
                       "<th>status</th><th>rows</th><th>%</th><th>why</th></tr>")
            for f in e["suite"]["failures"]:
                cls = "bad" if f["severity"] == "ERROR" and f["status"] != "skipped" else (
                    "warn" if f["status"] != "skipped" else "muted")
                pct = "" if f["unexpected_percent"] is None else f"{f['unexpected_percent']:.2f}"
                status = f["status"] + (f": {f['note']}" if f["note"] else "")
                out.append(f"<tr><td class='{cls}'>{_e(f['severity'])}</td><td>{_e(f['expectation'])}</td>"
                           f"<td>{_e(status)}</td><td class='n'>{_e(f['unexpected_count'])}</td>"
                           f"<td class='n'>{_e(pct)}</td><td class='muted'>{_e(f['why'])}</td></tr>")
            out.append("</table>")
        if e.get("quarantined_by_reason"):
            out.append("<table class='quarantine'><tr><th>quarantine reason</th><th>legacy rows</th></tr>")
            for reason, n in e["quarantined_by_reason"].items():
                out.append(f"<tr><td><code>{_e(reason)}</code></td>{_num(tn, 'q:' + reason, n)}</tr>")
            out.append("</table>")
            if e.get("quarantine_samples"):
                keys = ", ".join(f"{_e(x['legacy_table'])}:{_e(x['legacy_key'])} ({_e(x['reason_code'])})"
                                 for x in e["quarantine_samples"])
                out.append(f"<p class='muted'>first quarantined legacy keys: {keys}</p>")
    out.append(report_extras.phase_charts(s))
    out.append(report_extras.quarantine_section(s))
    out.append(report_extras.trend_chart(s.get("trend") or []))
    out.append(report_extras.spot_check_section(s))
    out.append(render_finance(s.get("finance")))
    out.append(render_dispositions(s.get("column_dispositions")))
    out.append("<p class='muted'>Counts, reason codes, expectation names and legacy keys only (and, in the finance "
               "section, amounts, bill numbers and months); legacy keys that are not surrogate ids are shown as keyed "
               "hashes (h:…).</p></body></html>")
    return "\n".join(out)


def render_dispositions(d: Mapping[str, Any] | None) -> str:
    """The legacy column dispositions (``mappings/columns.csv``, issue #13): counts per legacy table
    and disposition, then the dropped and pending columns with their reasons. Names only, no values."""
    if not d:
        return ""
    kinds = list(d["totals"])
    t = d["totals"]
    out = ["<h2 id='dispositions'>Legacy column dispositions</h2>",
           "<p>" + " · ".join(f"{t[k]} {_e(k)}" for k in kinds) + " <span class='muted'>(mappings/columns.csv)</span></p>",
           "<table id='disposition-counts'><tr><th>legacy table</th>" + "".join(f"<th>{_e(k)}</th>" for k in kinds) + "</tr>"]
    for table, counts in d["tables"].items():
        out.append(f"<tr data-legacy-table='{_e(table)}'><td>{_e(table)}</td>"
                   + "".join(f"<td class='n{' warn' if k == 'pending' and counts[k] else ''}'>{counts[k]}</td>" for k in kinds)
                   + "</tr>")
    out.append("</table>")
    for kind in ("dropped", "pending"):
        if d.get(kind):
            out.append(f"<h3>{_e(kind)}</h3><table class='dispositions-{_e(kind)}'><tr><th>column</th><th>reason</th></tr>")
            out += [f"<tr><td><code>{_e(x['table'])}.{_e(x['column'])}</code></td><td class='muted'>{_e(x['reason'])}</td></tr>"
                    for x in d[kind]]
            out.append("</table>")
    return "\n".join(out)


# --- GX Data Docs ---------------------------------------------------------------------------------------------


def build_data_docs(folder: Path, outcomes: Sequence[SuiteOutcome], run_id: str) -> Path | None:
    """GX Data Docs of the run's suites and (sanitized) results in ``folder``; None if GX fails."""
    if not outcomes:
        return None
    try:
        gx_import.ready()
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        from hms_pipeline.quality.gx_runner import _quiet_gx

        _quiet_gx()
        import great_expectations as gx

        _quiet_gx()

        ctx = gx.get_context(mode="ephemeral")
        ctx.add_data_docs_site("hms", {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "show_cta_footer": False},
        })
        for o in outcomes:
            if not o.gx_result.get("results"):
                continue
            configs = [r["expectation_config"] for r in o.gx_result["results"]]
            ctx.suites.add(ExpectationSuite(name=o.table, expectations=[
                {k: v for k, v in c.items() if k in ("type", "kwargs", "meta", "severity")} for c in configs]))
            result = expectationSuiteValidationResultSchema.load(o.gx_result)
            started = dt.datetime.fromisoformat(o.started_at) if o.started_at else None
            vid = ValidationResultIdentifier(
                ExpectationSuiteIdentifier(name=o.table), RunIdentifier(run_name=run_id, run_time=started), o.table)
            ctx.validation_results_store.store_validation_results(result, vid)
        ctx.build_data_docs(site_names=["hms"])
        return Path(folder) / "index.html"
    except Exception as exc:  # the HTML report and summary.json do not depend on Data Docs
        log.warning("GX Data Docs not built: %s", type(exc).__name__)
        return None


# --- entry point ---------------------------------------------------------------------------------------------


def write_run_report(conn: psycopg.Connection, run_id: str, check_outcomes: Sequence[SuiteOutcome] | None = None,
                     reports_dir: Path | None = None, *, checks: Sequence[CheckRecord] = (),
                     phases: Mapping[str, str] | None = None, phase_order: Sequence[str] | None = None,
                     data_docs: bool = True, hmac_secret: bytes | None = None,
                     facility_timezone: str | None = None) -> Path:
    """Write ``index.html``, ``summary.json`` and GX Data Docs for ``run_id``; return index.html's path.

    ``check_outcomes``: the suite outcomes of the run (default: the ``checks/*.json`` the checks
    wrote). ``checks``: the run's other checks (reconciliation), e.g. from
    :func:`check_records_from_instance`. ``phases``: canonical table -> phase (default: all in
    ``backfill``); ``phase_order`` orders the gates. ``facility_timezone``: the finance section's
    months (default: the settings' HMS_FACILITY_TIMEZONE).
    """
    if reports_dir is None:
        from hms_pipeline.settings import load_settings

        reports_dir = load_settings().reports_dir
    # Never kept next to the reports (they get shared): env or the installation's home.
    key = hmac_secret or hmac_key()
    folder = run_dir(Path(reports_dir), run_id)
    folder.mkdir(parents=True, exist_ok=True)
    outcomes = list(check_outcomes) if check_outcomes is not None else load_outcomes(folder)

    # The tables this run touched (checked or applied); all suite tables when it touched none.
    tables = {o.table for o in outcomes} | {c.table for c in checks} | set(_tables_with_stats(conn, run_id))
    tables = tables or set(suite_tables())
    figures = table_figures(conn, run_id, tables, key=key)
    summary = build_summary(run_id, figures, outcomes, list(checks), phases, phase_order)
    if finance.applies(conn, tables):
        if facility_timezone is None:
            from hms_pipeline.settings import load_settings

            facility_timezone = load_settings().facility_timezone
        summary["finance"] = finance.finance_figures(conn, facility_timezone=facility_timezone, key=key,
                                                     run_checks=list(checks))
    summary["column_dispositions"] = dispositions.summary()
    if _exists(conn, "ops.quarantine"):
        csv_path, entries = report_extras.write_quarantine_csv(conn, folder, key=key)
        summary["quarantine"] = {"entries": entries, "csv": csv_path.name}
    summary["trend"] = report_extras.trend_points(Path(reports_dir), summary)
    if _exists(conn, "compat.spot_checks"):
        from hms_pipeline.compat.spotcheck import latest

        summary["spot_check"] = latest(conn)
        conn.rollback()

    # Data Docs (GX import and site build: 6-10 s) only of the suites this run evaluated; an outcome
    # reused unchanged from an earlier run links to that run's Data Docs instead.
    fresh = [o for o in outcomes if o.run_id in (None, run_id)]
    docs = build_data_docs(folder / "gx", fresh, run_id) if data_docs else None
    summary["data_docs"] = "gx/index.html" if docs else None
    summary["data_docs_of_earlier_runs"] = sorted(
        {o.run_id for o in outcomes if o.run_id not in (None, run_id)
         and (run_dir(Path(reports_dir), str(o.run_id)) / "gx" / "index.html").is_file()})
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    index = folder / "index.html"
    index.write_text(render_html(summary, data_docs=summary["data_docs"]), encoding="utf-8")
    return index

