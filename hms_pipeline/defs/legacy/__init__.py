"""The legacy HMS source: one external asset per legacy relation, and the profile of the source.

The legacy tables are not produced by this pipeline, so each is an external ``dg.AssetSpec``
(key ``["legacy", <table>]``, group ``legacy``) described by the fixture contract. ``payment_ledger``
is included beside the contract's 43 tables: in the live database it is the table behind the
``payment_history`` view, so payment lineage reads it.

Each spec's description is the plain-language text of :mod:`hms_pipeline.legacy.descriptions`
(what a row is, how the app uses the relation, its quirks), followed by the contract's original
audit note for readers who know the audit's shorthand.
"""

# No `from __future__ import annotations`: Dagster inspects the context/resource annotations at runtime.

import dagster as dg

from hms_pipeline.legacy.contract import Contract
from hms_pipeline.legacy.descriptions import plain_description
from hms_pipeline.legacy.profiler import profile_legacy, summary_markdown
from hms_pipeline.legacy.schema import contract as load_vendored_contract
from hms_pipeline.phases import PHASE_TAG
from hms_pipeline.resources import HmsDatabaseResource

LEGACY_PROFILE_KEY = dg.AssetKey(["ops", "legacy_profile"])


def _column_schema(contract: Contract, name: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type,
                constraints=dg.TableColumnConstraints(nullable=not (c.not_null or c.pk), unique=c.pk or c.unique),
            )
            for c in contract.columns_of(name)
        ]
    )


def legacy_asset_specs(contract: Contract | None = None) -> list[dg.AssetSpec]:
    """One external spec per relation of the contract, in its creation order."""
    contract = contract or load_vendored_contract()
    specs = []
    for name in contract.names:
        block = contract.tables.get(name)
        if block is not None:
            kind, audit_note, rows_live = block.kind, block.note, block.rows_live
            base = block.base_table
        else:  # a base block: the table behind a live view (the contract has no note of its own for it)
            owner = next(t for t in contract.tables.values() if t.base and t.base.name == name)
            kind, rows_live, base, audit_note = "base", owner.base_rows_live, None, None
        description = plain_description(name, audit_note)
        metadata = {
            "legacy_profile_kind": kind,
            "live": contract.relation_kind(name, "live"),
            "blueprint": contract.relation_kind(name, "blueprint"),
            "rows_live": rows_live if rows_live is not None else "unknown",
            "dagster/column_schema": _column_schema(contract, name),
        }
        if base:
            metadata["base_table"] = base
        specs.append(
            dg.AssetSpec(
                key=["legacy", name],
                group_name="legacy",
                description=description,
                metadata=metadata,
                kinds={"postgres"},
            )
        )
    return specs


LEGACY_SPECS = legacy_asset_specs()


@dg.asset(key=LEGACY_PROFILE_KEY, group_name="ops", deps=LEGACY_SPECS, kinds={"postgres"}, tags={PHASE_TAG: "profile"})
def legacy_profile(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource) -> dg.MaterializeResult:
    """Profile of the legacy source schema (``HMS_LEGACY_SCHEMA``) against the fixture contract: for
    each legacy relation whether it is a table, a view or absent, its row count, columns, worst null
    rate and duplicate keys. The profile kind (live vs blueprint) is detected from the catalog. Fails,
    naming table and column, when a present table lacks a column the contract requires. Counts only:
    no data values leave the database."""
    schema = hms_db.settings().legacy_schema
    with hms_db.connect_legacy() as conn:
        profile = profile_legacy(conn, schema, "auto")
    counts = profile["counts"]
    present = [t for t in profile["tables"].values() if t["kind"] != "absent"]
    context.log.info(
        "legacy schema %s (%s profile): %d tables, %d views, %d absent",
        schema, profile["profile"], counts["table"], counts["view"], counts["absent"],
    )
    return dg.MaterializeResult(
        metadata={
            "legacy_schema": schema,
            "legacy_profile": profile["profile"],
            "tables_existing": dg.MetadataValue.int(counts["table"]),
            "views": dg.MetadataValue.int(counts["view"]),
            "tables_absent": dg.MetadataValue.int(counts["absent"]),
            "table_rows": dg.MetadataValue.int(sum(t["rows"] for t in present if t["kind"] == "table")),
            "duplicate_keys": dg.MetadataValue.int(sum(sum(t["duplicate_keys"].values()) for t in present)),
            "summary": dg.MetadataValue.md(summary_markdown(profile)),
        }
    )



