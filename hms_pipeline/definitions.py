"""The code location: one Definitions per domain under ``defs/``, merged, plus jobs, resources,
the quality gates (a GX suite check per canonical table) and the report sensors."""

import dagster as dg

from hms_pipeline.defs import clinical, core, etl, inpatient, legacy, ref, schema
from hms_pipeline.defs.clinical.lab import LAB_SPECS
from hms_pipeline.jobs import backfill_deltas_schedule, phase_jobs
from hms_pipeline.lib.factory import canonical_table_asset
from hms_pipeline.quality.checks import suite_checks
from hms_pipeline.quality.sensors import report_sensors
from hms_pipeline.resources import BackfillOptions, hms_db_resource

CANONICAL_SPECS = [*core.SPECS, *clinical.SPECS, *LAB_SPECS, *inpatient.SPECS]

defs = dg.Definitions.merge(
    schema.defs,
    legacy.defs,
    etl.defs,
    ref.defs,
    core.defs,
    clinical.defs,
    dg.Definitions(assets=[canonical_table_asset(s) for s in LAB_SPECS]),
    inpatient.defs,
    dg.Definitions(asset_checks=suite_checks(["ref.codes", *(s.name for s in CANONICAL_SPECS)])),
    dg.Definitions(
        jobs=phase_jobs,
        schedules=[backfill_deltas_schedule],
        sensors=report_sensors(),
        resources={"hms_db": hms_db_resource(), "backfill_options": BackfillOptions()},
    ),
)
