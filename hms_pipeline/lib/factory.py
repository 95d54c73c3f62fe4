"""Factories: one Dagster asset (with its blocking reconciliation check) per canonical table."""

import dagster as dg

from hms_pipeline.engine.reconcile import reconcile_or_reuse
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.transform import apply_table, something_written
from hms_pipeline.resources import BackfillOptions, HmsDatabaseResource

LEGACY_SNAPSHOT_KEY = dg.AssetKey(["etl", "legacy_snapshot"])
RECONCILIATION = "reconciliation"
WARNINGS = "warnings"


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name.split("."))


def transform_params(hms_db: HmsDatabaseResource) -> dict:
    """Values every transform may use (bound parameters, never formatted into SQL)."""
    s = hms_db.settings()
    return {"facility_name": s.facility_name, "facility_tz": s.facility_timezone}


def canonical_table_asset(spec: TableSpec) -> dg.AssetsDefinition:
    key = asset_key(spec.name)
    sources = ", ".join(spec.source_names) or "settings only"
    description = f"{spec.description.strip()}\n\nLegacy sources: {sources}. Transform: `sql/{spec.schema}/{spec.sql_path.name}`."

    @dg.asset(
        key=key,
        name=None,
        group_name=spec.schema,
        deps=[LEGACY_SNAPSHOT_KEY, *(asset_key(d) for d in spec.deps)],
        description=description,
        kinds={"postgres"},
        tags={"phase": spec.phase},
        check_specs=[
            dg.AssetCheckSpec(
                RECONCILIATION,
                asset=key,
                blocking=True,
                description="every consumed legacy row is loaded, merged or quarantined; no live row "
                "points at a soft-deleted parent",
            ),
            dg.AssetCheckSpec(
                WARNINGS,
                asset=key,
                blocking=False,
                description="rows loaded with a WARN (unmapped vocabulary value kept as NULL, unresolved "
                "free-text doctor name, inferred encounter...)",
            ),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource, backfill_options: BackfillOptions):
        with hms_db.connect() as conn:
            stats = apply_table(conn, spec, context.run_id, full=backfill_options.full_refresh,
                                params=transform_params(hms_db))
            idle = not backfill_options.full_refresh and stats.todo == 0 and not something_written(conn, context.run_id)
            recon = reconcile_or_reuse(conn, spec, context.run_id, idle=idle)
        context.log.info(
            "%s: %d candidates, %d written, %d unchanged, %d merged, %d quarantined, %d soft-deleted in %.2fs",
            spec.name, stats.candidates, stats.written, stats.unchanged, stats.merged, stats.quarantined,
            stats.soft_deleted, stats.seconds,
        )
        seen = sum(s.seen for s in recon.sources)
        yield dg.MaterializeResult(
            metadata={
                "rows_seen": dg.MetadataValue.int(seen),
                "loaded": dg.MetadataValue.int(stats.written),
                "merged": dg.MetadataValue.int(stats.merged),
                "quarantined": dg.MetadataValue.int(stats.quarantined),
                "unchanged": dg.MetadataValue.int(stats.unchanged),
                "soft_deleted": dg.MetadataValue.int(stats.soft_deleted),
                "warnings": dg.MetadataValue.json(stats.warnings),
                "seconds": dg.MetadataValue.float(float(stats.seconds)),
                "reconciliation": dg.MetadataValue.md(recon.markdown()),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=RECONCILIATION,
                    passed=recon.ok,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="; ".join(recon.problems()) or "all legacy rows accounted for",
                    metadata={
                        "sources": dg.MetadataValue.md(recon.markdown()),
                        "missing": dg.MetadataValue.int(sum(s.missing for s in recon.sources)),
                    },
                ),
                dg.AssetCheckResult(
                    check_name=WARNINGS,
                    passed=not stats.warnings,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=", ".join(f"{k}: {v}" for k, v in stats.warnings.items()) or "no warnings",
                    metadata={k: dg.MetadataValue.int(v) for k, v in stats.warnings.items()},
                ),
            ],
        )

    return _asset
