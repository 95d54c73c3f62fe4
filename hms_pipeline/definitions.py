"""The code location: every module under ``defs/`` (one package per schema) found by Dagster's
``load_defs``, its canonical tables given their GX suite checks (split over the whole asset graph,
:func:`~hms_pipeline.lib.factory.suite_definitions`), plus the phase jobs, the delta schedule and
the report sensors."""

import dagster as dg

from hms_pipeline import defs as defs_root
from hms_pipeline.lib.discovery import check_every_transform_has_a_spec
from hms_pipeline.lib.factory import suite_definitions
from hms_pipeline.lib.jobs import backfill_deltas_schedule, phase_jobs
from hms_pipeline.quality.sensors import report_sensors



def _definitions() -> dg.Definitions:
    # one Definitions object at module scope: Dagster's loader refuses two
    located = dg.load_defs(defs_root=defs_root)
    return dg.Definitions.merge(
        suite_definitions(located),  # located, each canonical table with its suite checks
        dg.Definitions(jobs=phase_jobs(), schedules=[backfill_deltas_schedule()], sensors=report_sensors()),
    )


defs = _definitions()
check_every_transform_has_a_spec(defs.resolve_all_asset_specs())
