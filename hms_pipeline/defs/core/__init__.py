"""core: facilities, departments, people (persons, patients, users, staff), roles, schedules."""

import dagster as dg

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import canonical_table_asset

SPECS = [
    TableSpec(
        "core", "facilities", sources=(),
        description="Grain: one row per facility. From settings (the legacy DB has no facilities).",
    ),
    TableSpec(
        "core", "departments", sources=(Source("departments"),), deps=("core.facilities", "ref.codes"),
        description="Grain: one row per legacy department. Type mapped by name through ref.codes "
        "(map:departments.type); unmapped names load with type NULL and a WARN.",
    ),
]

defs = dg.Definitions(assets=[canonical_table_asset(s) for s in SPECS])
