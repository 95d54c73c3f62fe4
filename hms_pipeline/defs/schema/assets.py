"""Phase 1 asset: apply the canonical DDL (``sql/ddl/``) and the configured table aliases."""


import dagster as dg

from hms_pipeline.lib.factory import CANONICAL_SCHEMA_KEY
from hms_pipeline.lib.schema import apply_canonical_schema
from hms_pipeline.phases import PHASE_TAG
from hms_pipeline.resources import HmsDatabaseResource



@dg.asset(key=CANONICAL_SCHEMA_KEY, group_name="ops", kinds={"postgres"}, tags={PHASE_TAG: "schema"})
def canonical_schema(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource) -> dg.MaterializeResult:
    """The blueprint's canonical schema (phase 1): schemas core, clinical, inpatient, pharmacy,
    billing, ops, ref and view; every table, constraint, index, trigger and view; the provenance
    tables ``ops.legacy_id_map`` and ``ops.quarantine``. Idempotent: only what is missing is created,
    nothing is ever dropped. A ``TABLE_*`` setting that differs from the blueprint's default gets a
    view of that name over the canonical table."""
    settings = hms_db.settings()
    with hms_db.connect() as conn:
        outcome = apply_canonical_schema(conn, settings)
    context.log.info(
        "canonical schema applied: %d tables (%d new), %d views", outcome.table_count,
        len(outcome.created_tables), len(outcome.views),
    )
    return dg.MaterializeResult(metadata=outcome.metadata())



