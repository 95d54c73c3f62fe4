"""The code location: one Definitions per domain under ``defs/``, merged, plus jobs and resources."""

import dagster as dg

from hms_pipeline.defs import schema
from hms_pipeline.jobs import phase_jobs
from hms_pipeline.resources import hms_db_resource

defs = dg.Definitions.merge(
    schema.defs,
    dg.Definitions(jobs=phase_jobs, resources={"hms_db": hms_db_resource()}),
)
