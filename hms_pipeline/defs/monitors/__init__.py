"""Monitors (issue #14, blueprint "Monitoring dashboards/alerts"): one WARN asset check per monitor on
the canonical asset it watches (``billing/invoices``, ``pharmacy/inventory_txns``,
``inpatient/admissions``, ``clinical/encounters``; the quarantine's growth on ``ops/quarantine``, an
external asset: the table every run writes). The SQL is in ``sql/monitors/<name>.sql``, the
thresholds are settings, the logic is :mod:`hms_pipeline.lib.monitors` (the checklist runs the same
code without Dagster). WARN severity and not blocking: a red monitor never stops the backfill (the
checks also run in backfill runs, after the tables their SQL reads, so the report shows them). The
``monitors`` schedule (stopped by default) runs the ``monitors`` job: the checks only.
"""

import dagster as dg

from hms_pipeline.lib.monitors import MONITORS, Monitor, describe, run_monitors
from hms_pipeline.resources import HmsDatabaseResource

quarantine = dg.AssetSpec(
    key=dg.AssetKey(["ops", "quarantine"]),
    description="ops.quarantine: the legacy rows and values every backfill run refused, with a reason code "
                "(written by every canonical asset; watched by the quarantine_growth monitor).",
    group_name="ops",
)


def _check(monitor: Monitor) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(list(monitor.asset)), name=f"monitor_{monitor.name}", blocking=False,
                    additional_deps=[dg.AssetKey(list(a)) for a in monitor.reads],
                    description=f"Monitor: {monitor.description} (sql/monitors/{monitor.name}.sql). WARN; never blocks.")
    def _monitor(hms_db: HmsDatabaseResource) -> dg.AssetCheckResult:
        with hms_db.connect() as conn:
            with conn.transaction():
                (result,) = run_monitors(conn, hms_db.settings(), names=[monitor.name])
        figure = result["figure"]
        return dg.AssetCheckResult(
            passed=bool(result["ok"]), severity=dg.AssetCheckSeverity.WARN,
            description=describe(result),
            metadata={"figure": dg.MetadataValue.float(figure if figure != float("inf") else -1.0),
                      "threshold": dg.MetadataValue.float(float(result["threshold"]))})

    return _monitor


CHECKS = [_check(m) for m in MONITORS]

monitors_job = dg.define_asset_job(
    "monitors", selection=dg.AssetSelection.checks(*CHECKS), executor_def=dg.in_process_executor,
    description="Run the monitors (asset checks only; nothing is materialized).")

monitors_schedule = dg.ScheduleDefinition(
    name="monitors", job=monitors_job, cron_schedule="*/30 * * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Run the monitors every 30 minutes (stopped by default: turn it on after cutover compat).")

defs = dg.Definitions(assets=[quarantine], asset_checks=CHECKS, jobs=[monitors_job], schedules=[monitors_schedule])
