"""Phase 3 from the UI: the ``cutover_compat`` and ``cutover_rollback`` jobs (the same code as
``hms-pipeline cutover compat`` / ``rollback``, :mod:`hms_pipeline.lib.cutover`). The final delta runs
as ``hms-pipeline run --phase backfill`` in a child process, recorded on this instance like any run."""

import subprocess
import sys

import dagster as dg

from hms_pipeline.lib import cutover
from hms_pipeline.resources import HmsDatabaseResource


def _delta(context: dg.OpExecutionContext) -> bool:
    code = subprocess.call([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"])
    context.log.info(f"delta exit code {code}")
    return code == 0


@dg.op(description="Refuse unless the backfill's blocking checks are green; catch-up delta; block the "
                   "application's writes; final delta; archive the legacy tables and create the "
                   "compatibility views, in one transaction.")
def switch_compat_on(context: dg.OpExecutionContext, hms_db: HmsDatabaseResource) -> dg.Output:
    result = cutover.compat_on(hms_db, context.instance, context.repository_def.asset_graph,
                               lambda: _delta(context), log=context.log.info)
    lines = cutover.describe(result)
    return dg.Output(None, metadata={"summary": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines)),
                                     "write_block_ms": dg.MetadataValue.float(float(result.lock_ms)),
                                     "views": dg.MetadataValue.int(len(result.views))})


@dg.op(description="Reverse the switch: drop the views and bring the legacy tables back with every "
                   "write made through them.")
def switch_compat_off(context: dg.OpExecutionContext, hms_db: HmsDatabaseResource) -> dg.Output:
    lines = cutover.describe(cutover.compat_off(hms_db))
    return dg.Output(None, metadata={"summary": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines))})


@dg.job(executor_def=dg.in_process_executor,
        description="Phase 3: the old application reads and writes through compatibility views.")
def cutover_compat():
    switch_compat_on()


@dg.job(executor_def=dg.in_process_executor,
        description="Reverse phase 3: the legacy tables are the application's store again.")
def cutover_rollback():
    switch_compat_off()


defs = dg.Definitions(jobs=[cutover_compat, cutover_rollback])
