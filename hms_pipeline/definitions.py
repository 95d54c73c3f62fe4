"""The code location: one Definitions per domain under ``defs/``, merged, plus jobs and resources."""

import dagster as dg

from hms_pipeline.defs import core, etl, legacy, ref, schema
from hms_pipeline.jobs import backfill_deltas_schedule, phase_jobs
from hms_pipeline.resources import BackfillOptions, hms_db_resource

defs = dg.Definitions.merge(
    schema.defs,
    legacy.defs,
    etl.defs,
    ref.defs,
    core.defs,
    dg.Definitions(
        jobs=phase_jobs,
        schedules=[backfill_deltas_schedule],
        resources={"hms_db": hms_db_resource(), "backfill_options": BackfillOptions()},
    ),
)
