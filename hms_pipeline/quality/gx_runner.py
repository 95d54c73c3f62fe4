"""Run an expectation suite inside Postgres with GX 1.x and turn the result into a Dagster check result.

GX sees the canonical table through a SQL (postgres) datasource table asset, so every expectation
is a query that Postgres answers with counts; no table is read into a DataFrame. The result format
asks for counts only (``BASIC`` with ``partial_unexpected_count: 0``) and
:func:`hms_pipeline.quality.phi.sanitize_gx_result` strips whatever value still comes back.

One GX context per process and database URL (:func:`runner_for`); table assets are added once and
reused. GX's connections are read-only (``default_transaction_read_only``), so a suite's SQL cannot
change data whoever edits it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hms_pipeline.quality import gx_import
from hms_pipeline.quality.phi import sanitize_gx_result, scrub_message
from hms_pipeline.quality.suites import Suite, load_suite, to_gx_suite

RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}
DATASOURCE_NAME = "hms_canonical"


@dataclass
class ExpectationOutcome:
    """The PHI-free outcome of one expectation: identity, severity, status and counts."""

    index: int
    type: str
    label: str
    severity: str  # ERROR | WARN
    why: str
    status: str  # passed | failed | error | skipped
    column: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    observed_value: float | int | None = None
    note: str = ""  # why it was skipped / what raised (scrubbed)

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "error")

    @property
    def count(self) -> int | None:
        """The number of offending rows (unexpected rows for custom SQL)."""
        if self.unexpected_count is not None:
            return self.unexpected_count
        if self.type == "unexpected_rows_expectation" and isinstance(self.observed_value, int):
            return self.observed_value
        return None


@dataclass
class SuiteOutcome:
    table: str
    run_id: str | None
    started_at: str
    seconds: float
    expectations: list[ExpectationOutcome]
    gx_result: dict[str, Any] = field(default_factory=dict)  # sanitized GX result (for Data Docs)

    # -- verdict ----------------------------------------------------------------------------------

    @property
    def error_failures(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.severity == "ERROR" and e.failed]

    @property
    def warn_failures(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.severity == "WARN" and e.failed]

    @property
    def passed(self) -> bool:
        """No expectation failed (the Dagster check's ``passed``)."""
        return not self.error_failures and not self.warn_failures

    @property
    def blocks(self) -> bool:
        """An ERROR expectation failed: the check fails with ERROR severity, which blocks."""
        return bool(self.error_failures)

    @property
    def status(self) -> str:
        """passed | warn (only WARN expectations failed: does not block) | failed (an ERROR one did)."""
        return "failed" if self.blocks else ("warn" if self.warn_failures else "passed")

    @property
    def blocking(self) -> bool:
        """The suite has ERROR expectations (its check is declared blocking)."""
        return any(e.severity == "ERROR" for e in self.expectations)

    @property
    def severity(self) -> str:
        return "ERROR" if self.error_failures else "WARN"

    def counts(self) -> dict[str, int]:
        by = lambda status: sum(e.status == status for e in self.expectations)  # noqa: E731
        return {
            "expectations": len(self.expectations),
            "passed": by("passed"),
            "failed": by("failed") + by("error"),
            "failed_error": len(self.error_failures),
            "failed_warn": len(self.warn_failures),
            "skipped": by("skipped"),
        }

    # -- presentation -----------------------------------------------------------------------------

    def summary_line(self) -> str:
        c = self.counts()
        verdict = {"passed": "passed", "warn": "passed with warnings", "failed": "FAILED"}[self.status]
        return (f"{self.table}: suite {verdict}: {c['passed']}/{c['expectations']} expectations passed, "
                f"{c['failed_error']} ERROR and {c['failed_warn']} WARN failed, {c['skipped']} skipped "
                f"in {self.seconds:.2f}s")

    def markdown(self) -> str:
        """A short table naming each failed (or skipped) expectation and its count."""
        lines = [self.summary_line(), ""]
        rows = [e for e in self.expectations if e.failed or e.status == "skipped"]
        if not rows:
            return lines[0]
        lines += ["| severity | expectation | status | rows | % |", "|---|---|---|---:|---:|"]
        for e in sorted(rows, key=lambda e: (e.severity != "ERROR", e.status == "skipped", e.index)):
            pct = "" if e.unexpected_percent is None else f"{e.unexpected_percent:.2f}"
            n = "" if e.count is None else str(e.count)
            status = e.status + (f" ({e.note})" if e.note else "")
            lines.append(f"| {e.severity} | {_md(e.label)} | {_md(status)} | {n} | {pct} |")
        return "\n".join(lines)

    def to_check_result(self, check_name: str | None = None, report_path: Path | None = None,
                        report_url: str | None = None):
        """The Dagster ``AssetCheckResult``. Severity is ERROR when an ERROR expectation failed (a
        blocking check then stops everything downstream) and WARN otherwise. ``passed`` is False
        whenever any expectation failed, so WARN failures show as warnings in the UI; Dagster only
        blocks on ERROR severity, so they never block."""
        import dagster as dg

        c = self.counts()
        metadata: dict[str, Any] = {
            "expectations": dg.MetadataValue.int(c["expectations"]),
            "passed": dg.MetadataValue.int(c["passed"]),
            "failed_error": dg.MetadataValue.int(c["failed_error"]),
            "failed_warn": dg.MetadataValue.int(c["failed_warn"]),
            "skipped": dg.MetadataValue.int(c["skipped"]),
            "unexpected_rows": dg.MetadataValue.int(sum(e.count or 0 for e in self.expectations if e.failed)),
            "seconds": dg.MetadataValue.float(round(self.seconds, 3)),
            "summary": dg.MetadataValue.md(self.markdown()),
        }
        if report_url is not None:  # opens from the UI while `hms-pipeline dev` serves the reports
            metadata["report"] = dg.MetadataValue.url(report_url)
        if report_path is not None:
            metadata["report_file"] = dg.MetadataValue.path(str(report_path))
        failed = self.error_failures + self.warn_failures
        description = ("; ".join(f"{e.severity} {e.label}: {e.count if e.count is not None else e.status}"
                                 for e in failed[:5]) or "all expectations passed")
        kwargs = {"check_name": check_name} if check_name else {}
        return dg.AssetCheckResult(
            passed=self.passed,
            severity=dg.AssetCheckSeverity.ERROR if self.error_failures else dg.AssetCheckSeverity.WARN,
            description=description[:1000],
            metadata=metadata,
            **kwargs,
        )

    # -- persistence (one JSON per table and run, read by the report writer) -----------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        d["counts"] = self.counts()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuiteOutcome:
        return cls(
            table=d["table"],
            run_id=d.get("run_id"),
            started_at=d.get("started_at", ""),
            seconds=float(d.get("seconds", 0.0)),
            expectations=[ExpectationOutcome(**e) for e in d["expectations"]],
            gx_result=d.get("gx_result") or {},
        )

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> SuiteOutcome:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


_GX_CHATTY_LOGGER = "great_expectations.data_context.types.base"


def _quiet_gx() -> None:
    """No analytics, no progress bars on stderr, and GX's INFO line "Created temporary directory ...
    for ephemeral docs site" (once per context) kept off the terminal.
    Called before GX's import and again after it: that module sets its own logger to INFO on import."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger(_GX_CHATTY_LOGGER).setLevel(logging.WARNING)


class GxRunner:
    """One ephemeral GX context with one postgres datasource for one canonical database."""

    def __init__(self, url: str):
        _quiet_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _quiet_gx()

        from hms_pipeline.db import sqlalchemy_url

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.datasource = self.context.data_sources.add_postgres(
            DATASOURCE_NAME,
            connection_string=sqlalchemy_url(url),
            kwargs={"connect_args": {
                "options": "-c default_transaction_read_only=on -c jit=off",
                "application_name": "hms-quality",
            }},
        )
        self._batches: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _batch_definition(self, table: str):
        if table not in self._batches:
            schema, name = table.split(".")
            asset = self.datasource.add_table_asset(name=table, table_name=name, schema_name=schema)
            self._batches[table] = asset.add_batch_definition_whole_table("whole_table")
        return self._batches[table]

    def missing_relations(self, names: set[str]) -> set[str]:
        if not names:
            return set()
        import sqlalchemy as sa

        with self.datasource.get_engine().connect() as conn:
            rows = conn.execute(
                sa.text("select n from unnest(cast(:names as text[])) n where to_regclass(n) is null"),
                {"names": sorted(names)},
            ).fetchall()
        return {r[0] for r in rows}

    def run(self, table: str, suite: Suite, run_id: str | None = None) -> SuiteOutcome:
        started = time.monotonic()
        started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            missing = self.missing_relations({r for e in suite.expectations for r in e.requires})
            skipped = {e.index: f"needs {', '.join(sorted(set(e.requires) & missing))}"
                       for e in suite.expectations if set(e.requires) & missing}
            results: dict[int, dict[str, Any]] = {}
            raw_result: dict[str, Any] = {}
            if len(skipped) < len(suite.expectations):
                batch = self._batch_definition(table).get_batch()
                gx_suite = to_gx_suite(suite, skip=set(skipped))
                validation = batch.validate(gx_suite, result_format=RESULT_FORMAT)
                raw_result = sanitize_gx_result(validation.to_json_dict())
                for r in raw_result["results"]:
                    results[int(r["expectation_config"]["meta"]["_index"])] = r
        outcomes = []
        for e in suite.expectations:
            base = dict(index=e.index, type=e.type, label=e.label, severity=e.severity, why=e.why,
                        column=e.column)
            if e.index in skipped:
                outcomes.append(ExpectationOutcome(**base, status="skipped", note=skipped[e.index]))
                continue
            r = results.get(e.index)
            if r is None:  # should not happen; never let a rule vanish silently
                outcomes.append(ExpectationOutcome(**base, status="error", note="no result from GX"))
                continue
            info = r.get("exception_info") or {}
            res = r.get("result") or {}
            if info.get("raised_exception"):
                status, note = "error", info.get("exception_message") or "raised"
            else:
                status, note = ("passed" if r.get("success") else "failed"), ""
            outcomes.append(ExpectationOutcome(
                **base,
                status=status,
                note=scrub_message(note),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
                element_count=res.get("element_count"),
                observed_value=res.get("observed_value"),
            ))
        raw_result.setdefault("meta", {})["hms_run_id"] = run_id
        return SuiteOutcome(
            table=table,
            run_id=run_id,
            started_at=started_at,
            seconds=time.monotonic() - started,
            expectations=outcomes,
            gx_result=raw_result,
        )


_RUNNERS: dict[str, GxRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner_for(url: str) -> GxRunner:
    """The process's runner for a database URL (created on first use)."""
    gx_import.ready()  # before the lock: a background import may be building this very runner
    with _RUNNERS_LOCK:
        if url not in _RUNNERS:
            _RUNNERS[url] = GxRunner(url)
        return _RUNNERS[url]


def prewarm(url: str) -> threading.Thread:
    """Build the process's runner for ``url`` in the background (:mod:`hms_pipeline.quality.gx_import`):
    the backfill starts it once the snapshot shows that something changed, so GX's import overlaps
    the transforms; the first suite check finds the runner ready, or waits for it."""
    return gx_import.start(lambda: runner_for(url))


def _url_of(engine_or_url: Any) -> str:
    if isinstance(engine_or_url, str):
        return engine_or_url
    url = getattr(engine_or_url, "url", None)  # a SQLAlchemy Engine
    if url is not None and hasattr(url, "render_as_string"):
        return url.render_as_string(hide_password=False)
    raise TypeError(f"expected a database URL or a SQLAlchemy engine, got {type(engine_or_url).__name__}")


def run_suite(engine_or_url: Any, table: str, suite: Suite | None = None, *,
              run_id: str | None = None) -> SuiteOutcome:
    """Validate ``table`` against its suite (default: ``expectations/<schema>/<table>.json``)
    inside Postgres and return the PHI-free outcome."""
    suite = suite or load_suite(table)
    return runner_for(_url_of(engine_or_url)).run(table, suite, run_id=run_id)
