"""Stage the legacy tables into ``stg`` as of one moment (see :mod:`hms_pipeline.engine.staging`)."""

import re
from contextlib import nullcontext

import dagster as dg

from hms_pipeline.engine import probe
from hms_pipeline.engine.staging import EXCLUDED_TABLES, Guard, stage_same_database, stage_separate_server
from hms_pipeline.legacy.schema import contract
from hms_pipeline.paths import SQL_DIR
from hms_pipeline.quality import gx_runner
from hms_pipeline.quality.checks import SUITE_CHECK_NAMES
from hms_pipeline.sqlrun import schema_problem
from hms_pipeline.lib.factory import CANONICAL_SCHEMA_KEY, LEGACY_SNAPSHOT_KEY
from hms_pipeline.resources import BackfillOptions, HmsDatabaseResource


_STG_REF = re.compile(r"\bstg\.([a-z_][a-z0-9_]*)")


def legacy_table_names() -> list[str]:
    """The contract tables some transform reads: every ``stg.<table>`` named in a SQL file under
    ``sql/`` (transforms and engine helpers; the legacy DDL excluded). Staging what no asset reads
    would only slow the snapshot; a new transform that reads another table adds it here."""
    read = set()
    for path in SQL_DIR.rglob("*.sql"):
        if "legacy" in path.relative_to(SQL_DIR).parts:
            continue
        read.update(_STG_REF.findall(path.read_text()))
    return [name for name in contract().names if name in read]


def _runs_suites(context: dg.AssetExecutionContext) -> bool:
    """The run evaluates some GX suite check: one the run selected, else one of its job's (a job
    built without the suite checks never imports GX, and never holds a GX connection)."""
    keys = context.run.asset_check_selection
    if keys is None:
        keys = context.job_def.asset_layer.asset_graph.asset_check_keys
    return any(key.name in SUITE_CHECK_NAMES for key in keys)


@dg.asset(
    key=LEGACY_SNAPSHOT_KEY,
    group_name="etl",
    deps=[CANONICAL_SCHEMA_KEY, *(dg.AssetKey(["legacy", name]) for name in legacy_table_names())],
    kinds={"postgres"},
    tags={"phase": "backfill"},
)
def legacy_snapshot(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource,
                    backfill_options: BackfillOptions) -> dg.MaterializeResult:
    """Grain: one staged row per legacy row of every legacy base table a transform reads, in
    ``stg.<table>``, refreshed in one repeatable-read transaction so the whole run sees the legacy
    side as of one moment while the old application keeps writing. Same database: INSERT ... SELECT;
    separate legacy server (``HMS_LEGACY_DATABASE_URL``): COPY into the target first. Before anything
    is staged, the source is checked: every required legacy table and column is there, and no table
    is absent, emptied or shrunk beyond ``HMS_MAX_SHRINK`` since the last snapshot (else the step
    fails naming the table and its figures, and nothing is soft-deleted; ``--accept-deletions``). Only changed
    rows are rewritten (watermark + row hash); deletions are marked. Views (appointments, medicines,
    billing_items, payment_history in the live database) and the excluded tables (medications_backup)
    are never staged."""
    settings = hms_db.settings()
    names = legacy_table_names()
    guard = Guard(max_shrink=settings.max_shrink, accept_deletions=frozenset(backfill_options.accept_deletions),
                  change_detection=settings.change_detection)
    with hms_db.connect() as conn:
        problem = schema_problem(conn)
        if problem:  # before anything is read or written: a missing relation would fail later, less clearly
            raise dg.Failure(description=f"etl/legacy_snapshot: {problem}")
        # what this run starts from, before anything is staged (a later run with the same has
        # nothing to do once this one succeeds: engine/probe.py)
        with (hms_db.connect_legacy() if settings.legacy_is_separate else nullcontext(conn)) as legacy_conn:
            probe.record(conn, context.run_id, probe.fingerprint(conn, legacy_conn, settings))
        conn.commit()
        if settings.legacy_is_separate:
            result = stage_separate_server(conn, hms_db.legacy_url(), settings.legacy_schema, names,
                                           context.run_id, full=backfill_options.full_refresh, guard=guard)
        else:
            result = stage_same_database(conn, settings.legacy_schema, names, context.run_id,
                                         full=backfill_options.full_refresh, guard=guard)
    if (result.rows_changed or result.rows_deleted or backfill_options.full_refresh) and _runs_suites(context):
        gx_runner.prewarm(hms_db.canonical_url())  # GX's 5 s import overlaps the transforms
    rows = "\n".join(
        f"| {name} | {t['changed']} | {t['deleted']} | {'yes' if t['incremental'] else 'no'} |"
        for name, t in sorted(result.tables.items())
    )
    return dg.MaterializeResult(
        metadata={
            "mode": result.mode,
            "tables_staged": dg.MetadataValue.int(len(result.tables)),
            "rows_changed": dg.MetadataValue.int(result.rows_changed),
            "rows_deleted": dg.MetadataValue.int(result.rows_deleted),
            "snapshot_seq": dg.MetadataValue.int(result.snapshot_seq),
            "excluded": ", ".join(f"{k} ({v})" for k, v in EXCLUDED_TABLES.items()),
            "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            "staged": dg.MetadataValue.md("| table | changed | deleted | incremental |\n|---|---:|---:|---|\n" + rows),
        }
    )



