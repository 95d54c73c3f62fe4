"""A per-asset text summary of a phase run, printed by the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import dagster as dg

# Metadata keys shown as columns when an asset reports them (in this order).
# The figures are README "Figures": the same names and numbers as the asset metadata and the report.
SUMMARY_COLUMNS = ("legacy_rows_seen", "legacy_rows_loaded", "legacy_rows_merged", "legacy_rows_quarantined",
                   "rows_written", "rows_unchanged", "tables", "tables_created")
HEADINGS = {"legacy_rows_seen": "seen", "legacy_rows_loaded": "loaded", "legacy_rows_merged": "merged",
            "legacy_rows_quarantined": "quarantined", "rows_written": "written", "rows_unchanged": "unchanged"}


def _value(entry) -> object:
    return getattr(entry, "value", entry)


def _root_cause(error) -> str:
    """The first line of the innermost error (Dagster wraps the real one: 'Error occurred while
    executing op ...'). Errors raised by the pipeline name table, key and rule, never a value; a
    database error's first line names the constraint (its DETAIL line, which may quote values, is
    left out)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    return lines[0] if lines else type(error).__name__


def write_traces(folder: Path, failures) -> Path:
    """Every failed step's full error (message, stack, causes) in ``folder/failures.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "failures.log"
    with open(path, "w", encoding="utf-8") as fh:
        for event in failures:
            error = event.event_specific_data.error
            fh.write(f"== {event.step_key}\n")
            while error is not None:
                fh.write(error.message.rstrip() + "\n" + "".join(error.stack or []) + "\n")
                error = getattr(error, "cause", None)
                if error is not None:
                    fh.write("-- caused by:\n")
    return path


def print_run_summary(instance: dg.DagsterInstance, result, seconds: float, out: IO[str],
                      trace_dir: Path | None = None) -> None:
    """The per-asset table, one line per failed check or step (the step's root cause), and where
    the full traces are (``trace_dir/failures.log``)."""
    rows = []
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta = mat.metadata
        cells = {k: _value(meta[k]) for k in SUMMARY_COLUMNS if k in meta}
        secs = _value(meta["seconds"]) if "seconds" in meta else None
        rows.append((mat.asset_key.to_user_string(), cells, secs))
    columns = [c for c in SUMMARY_COLUMNS if any(c in r[1] for r in rows)]
    width = max([len(r[0]) for r in rows] + [5])
    header = f"{'asset':<{width}}  " + "  ".join(f"{HEADINGS.get(c, c):>11}" for c in columns) + f"  {'seconds':>8}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for key, cells, secs in rows:
        line = f"{key:<{width}}  " + "  ".join(f"{str(cells.get(c, '')):>11}" for c in columns)
        line += f"  {secs:>8.2f}" if isinstance(secs, (int, float)) else f"  {'':>8}"
        print(line, file=out)
    if "legacy_rows_seen" in columns:
        print("seen / loaded / merged / quarantined: legacy rows as of the snapshot; written / unchanged: "
              "canonical rows of this run (README \"Figures\")", file=out)
    failed_checks = [
        e for e in result.get_asset_check_evaluations() if not e.passed
    ]
    for check in failed_checks:
        label = "CHECK FAILED" if check.severity.value == "ERROR" else "WARN"
        detail = f": {check.description}" if check.description else ""
        print(f"{label}: {check.asset_key.to_user_string()} {check.check_name}{detail}", file=out)
    failures = list(result.get_step_failure_events())
    for event in failures:
        print(f"STEP FAILED: {event.step_key}: {_root_cause(event.event_specific_data.error)}", file=out)
    if failures and trace_dir is not None:
        path = write_traces(trace_dir, failures)
        print(f"the full error of each failed step: {path}; fix the cause, then run the phase again "
              "(tables already written are not redone)", file=out)
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} {status} in {seconds:.1f}s", file=out)
