"""Dagster's standard metadata on canonical assets (issue #16): owners on the definition,
``dagster/row_count`` and ``dagster/column_schema`` (from the catalog) on each materialization."""

from __future__ import annotations

import psycopg

from backfill_helpers import prepare, run_backfill


def test_canonical_assets_carry_owners():
    import dagster as dg

    from hms_pipeline.definitions import defs

    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    for key in (dg.AssetKey(["core", "patients"]), dg.AssetKey(["billing", "invoices"]), dg.AssetKey(["pharmacy", "items"])):
        assert specs[key].owners, key
    assert specs[dg.AssetKey(["billing", "invoices"])].owners == ["team:finance"]


def test_materializations_carry_row_count_and_column_schema(fresh_db, monkeypatch):
    monkeypatch.setenv("HMS_REPORTS_URL", "http://127.0.0.1:3999/")
    prepare(fresh_db)
    result = run_backfill(monkeypatch, fresh_db, targets=["core.patients"], suites=False)
    assert result.success
    mats = {e.step_materialization_data.materialization.asset_key.to_user_string():
            e.step_materialization_data.materialization.metadata for e in result.get_asset_materialization_events()}
    meta = mats["core/patients"]
    with psycopg.connect(fresh_db) as conn:
        live = conn.execute("select count(*) from core.patients where deleted_at is null").fetchone()[0]
        columns = [r[0] for r in conn.execute(
            "select attname from pg_attribute where attrelid = 'core.patients'::regclass and attnum > 0 "
            "and not attisdropped order by attnum")]
    assert live > 0 and meta["dagster/row_count"].value == live
    schema = meta["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == columns
    by_name = {c.name: c for c in schema.columns}
    assert by_name["patient_id"].type == "uuid" and not by_name["patient_id"].constraints.nullable
    assert by_name["deleted_at"].constraints.nullable
    # the run's report, as a link where `hms-pipeline dev` serves the reports folder
    assert meta["report"].value == f"http://127.0.0.1:3999/{result.run_id}/index.html"

    # where the table's seconds went, per engine step, adding up to no more than its own seconds
    steps = meta["step_seconds"].value
    assert {"upsert", "preflight", "provenance", "transform patients.sql"} <= set(steps), sorted(steps)
    assert 0 < sum(steps.values()) <= meta["seconds"].value + 0.01
