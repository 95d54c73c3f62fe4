"""Phase 5 from the UI: the ``security_enable`` job (the same code as ``hms-pipeline security enable``,
:mod:`hms_pipeline.lib.security_cmd`): row-level security on for every table of the matrix."""

import dagster as dg

from hms_pipeline.lib import security_cmd
from hms_pipeline.resources import HmsDatabaseResource


@dg.op(description="Enable row-level security, table by table, on every table of the role matrix (and the "
                   "archived legacy tables once the compatibility views are on). Policies come from the "
                   "schema phase (sql/ddl/098_security.sql); never FORCEd, so the pipeline is not filtered.")
def enable_row_level_security(context: dg.OpExecutionContext, hms_db: HmsDatabaseResource) -> dg.Output:
    with hms_db.connect() as conn:
        done = security_cmd.enable_tables(conn)
    context.log.info(f"row-level security enabled on {len(done)} table(s)")
    return dg.Output(None, metadata={"enabled": dg.MetadataValue.int(len(done)),
                                     "tables": dg.MetadataValue.md("\n".join(f"- `{t}`" for t in done) or "(none)")})


@dg.job(executor_def=dg.in_process_executor,
        description="Phase 5: turn row-level security on for every table (hms-pipeline security enable).")
def security_enable():
    enable_row_level_security()


defs = dg.Definitions(jobs=[security_enable])
