"""Write the validation report when a run ends, also for runs launched from the UI.

A failed blocking check stops the run's downstream assets, so the report cannot be an asset at the
end of the graph: it would be skipped exactly when it matters. These run-status sensors write it
after the run instead (success or failure), for runs that evaluated at least one asset check.
"""

# No "from __future__ import annotations": Dagster reads the sensors' annotations at runtime.
from collections.abc import Mapping, Sequence

import dagster as dg

from hms_pipeline.resources import HmsDatabaseResource


def phases_from_defs(defs: dg.Definitions) -> dict[str, str]:
    """canonical table (``schema.table``) -> the ``phase`` tag of its asset."""
    out = {}
    for spec in defs.resolve_all_asset_specs():
        phase = (spec.tags or {}).get("phase")
        if phase and len(spec.key.path) == 2:
            out[".".join(spec.key.path)] = phase
    return out


def write_report_for_run(instance: dg.DagsterInstance, run_id: str, hms_db: HmsDatabaseResource,
                         phases: Mapping[str, str] | None = None):
    """The report of one finished run (None when the run evaluated no check: nothing to report)."""
    from hms_pipeline.quality.checks import run_dir
    from hms_pipeline.quality.reports import check_records_from_instance, write_run_report

    settings = hms_db.settings()
    checks = check_records_from_instance(instance, run_id)
    if not checks and not (run_dir(settings.reports_dir, run_id) / "checks").is_dir():
        return None
    with hms_db.connect() as conn:
        return write_run_report(conn, run_id, None, settings.reports_dir, checks=checks, phases=phases,
                                facility_timezone=settings.facility_timezone)


def report_sensors(monitored_jobs: Sequence | None = None, *, phases: Mapping[str, str] | None = None,
                   default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING) -> list[dg.SensorDefinition]:
    """Two sensors (run succeeded / run failed) that write ``<reports dir>/<run id>/``."""

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="validation_report_after_success",
        monitored_jobs=monitored_jobs,
        default_status=default_status,
        description="Writes the run's validation report (index.html, summary.json, GX Data Docs).",
    )
    def after_success(context: dg.RunStatusSensorContext, hms_db: HmsDatabaseResource):
        from hms_pipeline.engine import probe

        with hms_db.connect() as conn:  # a backfill run's starting state now answers for the next one
            probe.mark_succeeded(conn, context.dagster_run.run_id)
        path = write_report_for_run(context.instance, context.dagster_run.run_id, hms_db, phases)
        if path:
            context.log.info(f"validation report: {path}")

    @dg.run_failure_sensor(
        name="validation_report_after_failure",
        monitored_jobs=monitored_jobs,
        default_status=default_status,
        description="Writes the run's validation report when a run fails (e.g. a blocking check).",
    )
    def after_failure(context: dg.RunFailureSensorContext, hms_db: HmsDatabaseResource):
        path = write_report_for_run(context.instance, context.dagster_run.run_id, hms_db, phases)
        if path:
            context.log.info(f"validation report: {path}")

    return [after_success, after_failure]
