"""The resources every asset of the code location uses (found by ``load_defs`` like the rest)."""

import dagster as dg

from hms_pipeline.resources import BackfillOptions, hms_db_resource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"hms_db": hms_db_resource(), "backfill_options": BackfillOptions()})
