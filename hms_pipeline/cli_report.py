"""``hms-pipeline report [--run ID] [--json] [--rebuild]``: where a run's validation report is and what it says.

Exit codes: 0 no blocking check failed; 1 a blocking check failed; 2 no report found (or bad settings).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from hms_pipeline.paths import run_dir


def latest_run_folder(reports_dir: Path) -> Path | None:
    """The most recently written run folder (by its summary.json, else its checks/)."""
    candidates = []
    for folder in Path(reports_dir).glob("*"):
        marker = folder / "summary.json"
        if not marker.is_file():
            marker = folder / "checks"
        if marker.exists():
            candidates.append((marker.stat().st_mtime, folder))
    return max(candidates)[1] if candidates else None


def rebuild_report(settings, run_id: str) -> Path:
    """(Re)write the report of ``run_id`` from the database, the run's checks/*.json and, when the
    Dagster instance is reachable, the run's other check results (reconciliation)."""
    from hms_pipeline import db
    from hms_pipeline.quality.reports import check_records_from_instance, write_run_report

    checks = []
    try:
        from hms_pipeline.instance import get_instance

        checks = check_records_from_instance(get_instance(settings), run_id)
    except Exception as exc:  # the report is still useful without them
        print(f"note: reconciliation results not read from the Dagster instance ({type(exc).__name__})",
              file=sys.stderr)
    with db.connect(db.canonical_url(settings)) as conn:
        return write_run_report(conn, run_id, None, settings.reports_dir, checks=checks,
                                facility_timezone=settings.facility_timezone)


def format_summary(summary: dict[str, Any], index: Path, out: IO[str]) -> None:
    verdict = "FAILED: a blocking check failed" if summary["blocking_failed"] else "passed"
    print(f"report: {index}", file=out)
    print(f"run {summary['run_id']}: {verdict}", file=out)
    for ph in summary["phases"]:
        extra = f" (blocked by {', '.join(ph['blocked_by'])}; next phase blocked)" if ph["blocks_next"] else (
            f" (blocked by {', '.join(ph['blocked_by'])})" if ph["blocked_by"] else "")
        print(f"phase {ph['phase']}: gate {ph['status']}{extra}", file=out)
    rows = summary["tables"]
    if rows:
        width = max(len(r["table"]) for r in rows)
        print(f"\n{'table':<{width}}  {'seen':>8} {'loaded':>8} {'merged':>7} {'quarant.':>8} {'live':>8}  checks",
              file=out)
        for r in rows:
            checks = [f"{c['check']} {'ok' if c['passed'] else 'FAILED'}" for c in r["checks"]]
            if r["suite"]:
                s = r["suite"]
                state = {"passed": "ok", "warn": "warn", "failed": "FAILED"}[s["status"]]
                checks.append(f"suite {state} {s['expectations_passed']}/{s['expectations']}")
            print(f"{r['table']:<{width}}  {r.get('legacy_rows_seen', 0):>8} {r.get('legacy_rows_loaded', 0):>8} "
                  f"{r.get('legacy_rows_merged', 0):>7} {r.get('legacy_rows_quarantined', 0):>8} "
                  f"{r.get('live_rows', 0):>8}  "
                  f"{'; '.join(checks) or '-'}", file=out)
    failures = [(r["table"], f) for r in rows if r["suite"] for f in r["suite"]["failures"] if f["status"] != "skipped"]
    failures += [(r["table"], {"severity": c["severity"], "expectation": c["check"], "unexpected_count": None,
                               "status": "failed"}) for r in rows for c in r["checks"] if not c["passed"]]
    if failures:
        print("", file=out)
        for table, f in sorted(failures, key=lambda x: (x[1]["severity"] != "ERROR", x[0])):
            n = f.get("unexpected_count")
            print(f"{f['severity']:<5} {table}: {f['expectation']}: "
                  f"{str(n) + ' rows' if n is not None else f['status']}", file=out)
    if summary.get("data_docs"):
        print(f"\nGX Data Docs: {index.parent / summary['data_docs']}", file=out)


def cmd_report(args: argparse.Namespace) -> int:
    from hms_pipeline.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"hms-pipeline: configuration error: {exc}", file=sys.stderr)
        return 2
    folder = run_dir(settings.reports_dir, args.run) if args.run else latest_run_folder(settings.reports_dir)
    if folder is None or not folder.exists():
        where = f"for run {args.run} " if args.run else ""
        print(f"hms-pipeline: no validation report {where}in {settings.reports_dir}", file=sys.stderr)
        return 2
    summary_path = folder / "summary.json"
    if args.rebuild or not summary_path.is_file():
        run_id = args.run or folder.name
        rebuild_report(settings, run_id)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if args.json:
        json.dump({"report": str(folder / "index.html"), **summary}, sys.stdout, indent=1)
        print()
    else:
        format_summary(summary, folder / "index.html", sys.stdout)
    return 1 if summary["blocking_failed"] else 0


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report`` to the ``hms-pipeline`` sub-commands (``func`` returns the exit code)."""
    p = subparsers.add_parser(
        "report", help="where a run's validation report is, with a text summary (exit 1 if a blocking check failed)")
    p.add_argument("--run", default=None, metavar="ID", help="run id (default: the latest report)")
    p.add_argument("--json", action="store_true", help="print summary.json instead of text")
    p.add_argument("--rebuild", action="store_true", help="rewrite the report from the database first")
    p.set_defaults(func=cmd_report)
    return p
