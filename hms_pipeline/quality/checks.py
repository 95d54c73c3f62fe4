"""Check factory: one Dagster asset check per canonical table that has an expectation suite.

The check runs the table's suite inside Postgres (:mod:`hms_pipeline.quality.gx_runner`), writes
the PHI-free outcome to ``<reports dir>/<run id>/checks/<schema>.<table>.json`` (the run report is
built from these files) and returns an ``AssetCheckResult``. A suite with any ERROR expectation
makes a *blocking* check: when an ERROR expectation fails the result has ERROR severity and
Dagster skips everything downstream. WARN failures give a failed check with WARN severity, which
never blocks.

Suites are read when the definitions load (to know whether a check blocks) but GX is imported only
when a check runs, so loading the code location stays fast.
"""

# No "from __future__ import annotations": Dagster reads the check function's annotations at runtime.
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from psycopg import sql
from psycopg.types.json import Jsonb

from hms_pipeline.paths import EXPECTATIONS_DIR, outcome_path, run_dir  # noqa: F401 (re-exported)
from hms_pipeline.quality.suites import load_suite, suite_path
from hms_pipeline.resources import HmsDatabaseResource

CHECK_NAME = "expectations"


_CANONICAL_REF = re.compile(r"\b(?:core|clinical|inpatient|pharmacy|billing|ops|ref)\.[a-z_]+\b")


def data_fingerprint(conn, table: str, suite_file: Path) -> str:
    """What a suite's result depends on: the suite file, the legacy snapshot, and the row count and
    latest ``updated_at`` of the table and of every canonical table the suite's queries name (so
    edits made outside the pipeline count too). Equal fingerprints => the previous outcome holds."""
    text = Path(suite_file).read_text(encoding="utf-8")
    parts = [hashlib.md5(text.encode()).hexdigest()]
    parts.append(str(conn.execute("select coalesce(max(snapshot_seq), 0) from etl.stage_runs").fetchone()[0]))
    for name in sorted({table, *_CANONICAL_REF.findall(text)}):
        if conn.execute("select to_regclass(%s) is null", (name,)).fetchone()[0]:
            continue
        schema, rel = name.split(".")
        has_updated_at = conn.execute(
            "select exists (select 1 from pg_attribute where attrelid = %s::regclass and attname = 'updated_at')",
            (name,)).fetchone()[0]
        stamp = sql.SQL("max(updated_at)::text") if has_updated_at else sql.SQL("''")
        rows, latest = conn.execute(
            sql.SQL("select count(*), {} from {}").format(stamp, sql.Identifier(schema, rel))).fetchone()
        parts.append(f"{name}={rows}@{latest}")
    return ":".join(parts)


def _asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def suite_check(table: str, *, check_name: str = CHECK_NAME,
                root: Path = EXPECTATIONS_DIR) -> dg.AssetChecksDefinition:
    """The asset check of one table's suite."""
    suite = load_suite(table, root, validate=False)  # full validation (imports GX) happens at run time
    counts = suite.counts()
    description = (f"GX suite `expectations/{table.replace('.', '/')}.json`: {counts['ERROR']} ERROR "
                   f"(blocking) and {counts['WARN']} WARN expectations, run inside Postgres.")

    @dg.asset_check(
        asset=_asset_key(table),
        name=check_name,
        blocking=suite.blocking,
        description=description,
    )
    def _check(context: dg.AssetCheckExecutionContext, hms_db: HmsDatabaseResource) -> dg.AssetCheckResult:
        from hms_pipeline.quality.gx_runner import SuiteOutcome, run_suite

        settings = hms_db.settings()
        current = load_suite(table, root)  # re-read: a reviewer may have edited the file
        run_id = context.run.run_id
        with hms_db.connect() as conn:
            fingerprint = data_fingerprint(conn, table, suite_path(table, root))
            previous = conn.execute(
                "select outcome, run_id from etl.suite_state where canonical_table = %s and fingerprint = %s",
                (table, fingerprint),
            ).fetchone()
        reused_from = None
        if previous is not None:
            outcome = SuiteOutcome.from_dict(previous[0])
            reused_from = previous[1]
        else:
            outcome = run_suite(hms_db.canonical_url(), table, current, run_id=run_id)
            with hms_db.connect() as conn:
                conn.execute(
                    """insert into etl.suite_state (canonical_table, fingerprint, outcome, run_id)
                       values (%s, %s, %s, %s)
                       on conflict (canonical_table) do update set fingerprint = excluded.fingerprint,
                           outcome = excluded.outcome, run_id = excluded.run_id, evaluated_at = now()""",
                    (table, fingerprint, Jsonb(outcome.to_dict()), run_id),
                )
        outcome.write(outcome_path(settings.reports_dir, run_id, table))
        context.log.info(outcome.summary_line() + (f" (unchanged since run {reused_from})" if reused_from else ""))
        report = run_dir(settings.reports_dir, run_id) / "index.html"
        result = outcome.to_check_result(report_path=report)
        if reused_from:
            result = result._replace(metadata={**result.metadata, "reused_from_run": dg.MetadataValue.text(reused_from)})
        return result

    return _check


def suite_checks(table_names: Iterable[str], *, check_name: str = CHECK_NAME,
                 root: Path = EXPECTATIONS_DIR) -> list[dg.AssetChecksDefinition]:
    """One check per table of ``table_names`` (``schema.table``) that has a suite file; tables
    without one are left out (the test suite makes sure every canonical table has one)."""
    return [suite_check(t, check_name=check_name, root=root)
            for t in table_names if suite_path(t, root).is_file()]
