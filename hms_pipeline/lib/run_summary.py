"""A per-asset text summary of a phase run, printed by the CLI."""

from __future__ import annotations

from typing import IO

import dagster as dg

# Metadata keys shown as columns when an asset reports them (in this order).
SUMMARY_COLUMNS = ("rows_seen", "loaded", "merged", "quarantined", "unchanged", "tables", "tables_created")


def _value(entry) -> object:
    return getattr(entry, "value", entry)


def print_run_summary(instance: dg.DagsterInstance, result, seconds: float, out: IO[str]) -> None:
    rows = []
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta = mat.metadata
        cells = {k: _value(meta[k]) for k in SUMMARY_COLUMNS if k in meta}
        secs = _value(meta["seconds"]) if "seconds" in meta else None
        rows.append((mat.asset_key.to_user_string(), cells, secs))
    columns = [c for c in SUMMARY_COLUMNS if any(c in r[1] for r in rows)]
    width = max([len(r[0]) for r in rows] + [5])
    header = f"{'asset':<{width}}  " + "  ".join(f"{c:>13}" for c in columns) + f"  {'seconds':>8}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for key, cells, secs in rows:
        line = f"{key:<{width}}  " + "  ".join(f"{str(cells.get(c, '')):>13}" for c in columns)
        line += f"  {secs:>8.2f}" if isinstance(secs, (int, float)) else f"  {'':>8}"
        print(line, file=out)
    failed_checks = [
        e for e in result.get_asset_check_evaluations() if not e.passed
    ]
    for check in failed_checks:
        label = "CHECK FAILED" if check.severity.value == "ERROR" else "WARN"
        detail = f": {check.description}" if check.description else ""
        print(f"{label}: {check.asset_key.to_user_string()} {check.check_name}{detail}", file=out)
    for event in result.get_step_failure_events():
        print(f"STEP FAILED: {event.step_key}: {event.event_specific_data.error.message.strip()}", file=out)
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} {status} in {seconds:.1f}s", file=out)
