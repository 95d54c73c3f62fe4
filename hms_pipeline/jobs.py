"""Phase jobs. They run with the in-process executor: a phase is a chain of short SQL steps and a
process per step would cost more than the steps (measured: 56 s vs 4 s for 40 chained assets)."""

from __future__ import annotations

import dagster as dg

from hms_pipeline.defs.schema.assets import CANONICAL_SCHEMA_KEY

PHASES: dict[str, dg.AssetSelection] = {
    "schema": dg.AssetSelection.assets(CANONICAL_SCHEMA_KEY),
}


def phase_job_name(phase: str) -> str:
    return f"phase_{phase}"


phase_jobs = [
    dg.define_asset_job(
        phase_job_name(phase),
        selection=selection,
        executor_def=dg.in_process_executor,
        description=f"Materialize the '{phase}' phase in one process.",
    )
    for phase, selection in PHASES.items()
]
