"""ref: controlled vocabularies and the pipeline's explicit legacy-value mappings."""

import dagster as dg

from hms_pipeline.lib.factory import LEGACY_SNAPSHOT_KEY, RECONCILIATION
from hms_pipeline.lib.sqlrun import run_sql_file
from hms_pipeline.paths import sql_file
from hms_pipeline.resources import HmsDatabaseResource

CODES_KEY = dg.AssetKey(["ref", "codes"])

_RECONCILE = """
select count(*), count(m.legacy_key)
from stg.ref_code s
left join ops.legacy_id_map m
  on m.legacy_table = 'ref_code' and m.legacy_key = s._key and m.canonical_table = 'ref.codes'
where not s._deleted
"""


@dg.asset(
    key=CODES_KEY,
    group_name="ref",
    deps=[LEGACY_SNAPSHOT_KEY],
    kinds={"postgres"},
    tags={"phase": "backfill"},
    check_specs=[dg.AssetCheckSpec(RECONCILIATION, asset=CODES_KEY, blocking=True,
                                   description="every legacy ref_code row is loaded")],
)
def codes(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource):
    """Grain: one row per (code, system). Sources: legacy ref_code (system 'legacy.<domain>') and
    the explicit mapping data of `sql/ref/codes.sql` (system 'map:<legacy column>': legacy value ->
    canonical value), which every transform uses to map legacy vocabularies to canonical enums."""
    with hms_db.connect() as conn:
        with conn.transaction():
            conn.execute("select set_config('hms.run_id', %s, true)", (context.run_id,))
            before = conn.execute("select count(*), md5(string_agg(code || system || coalesce(display, ''), ',' order by code, system)) from ref.codes").fetchone()
            conn.execute("select etl.id_map_partition('ref.codes')")  # codes.sql maps its legacy rows
            run_sql_file(conn, sql_file("ref", "codes.sql"))
            after = conn.execute("select count(*), md5(string_agg(code || system || coalesce(display, ''), ',' order by code, system)) from ref.codes").fetchone()
            # recorded like a canonical table, so that a mapping change retries quarantined rows
            conn.execute(
                """insert into etl.run_stats (run_id, canonical_table, candidates, written, unchanged, quarantined,
                                              merged, soft_deleted, seconds)
                   values (%s, 'ref.codes', %s, %s, 0, 0, 0, 0, 0)
                   on conflict (run_id, canonical_table) do update set written = excluded.written""",
                (context.run_id, after[0], 0 if before == after else abs(after[0] - before[0]) or 1),
            )
        mappings, legacy = conn.execute(
            "select count(*) filter (where system like 'map:%%'), count(*) filter (where system like 'legacy.%%') from ref.codes"
        ).fetchone()
        seen, mapped = conn.execute(_RECONCILE).fetchone()
    yield dg.MaterializeResult(
        metadata={"rows_seen": seen, "loaded": mapped, "mapping_rows": mappings, "legacy_code_rows": legacy},
        check_results=[
            dg.AssetCheckResult(
                check_name=RECONCILIATION, passed=seen == mapped, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"seen": seen, "loaded": mapped, "missing": seen - mapped},
            )
        ],
    )


defs = dg.Definitions(assets=[codes])
