"""The legacy profiler and the ``ops/legacy_profile`` asset on freshly created legacy schemas."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from hms_pipeline.defs.legacy import LEGACY_PROFILE_KEY, LEGACY_SPECS, legacy_profile
from hms_pipeline.legacy.descriptions import PLAIN
from hms_pipeline.legacy.profiler import LegacyProfileError, detect_profile, profile_legacy
from hms_pipeline.legacy.schema import contract, create_legacy_schema, legacy_tables
from hms_pipeline.resources import HmsDatabaseResource

CONTRACT = contract()


@pytest.mark.parametrize("profile", ["live", "blueprint"])
@pytest.mark.parametrize("schema", ["public", "legacy"])
def test_profile_of_empty_schema(fresh_db, profile, schema):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, schema, profile)
        assert detect_profile(conn, schema) == profile
        for requested in (profile, "auto"):
            result = profile_legacy(conn, schema, requested)
            assert result["profile"] == profile and result["schema"] == schema
            expected = legacy_tables(profile)
            assert {n: t["kind"] for n, t in result["tables"].items()} == expected
            assert result["counts"] == {k: list(expected.values()).count(k) for k in ("table", "view", "absent")}
            for name, t in result["tables"].items():
                if t["kind"] == "absent":
                    assert t["rows"] is None and t["columns"] == []
                    continue
                assert t["rows"] == 0
                assert t["columns"] == [c.name for c in CONTRACT.columns_of(name)]
                assert set(t["null_rate"]) == set(t["columns"])
                assert all(v == 0.0 for v in t["null_rate"].values())
                assert all(v == 0 for v in t["duplicate_keys"].values())
                assert t["missing_optional_columns"] == [] and t["extra_columns"] == []
        keys = profile_legacy(conn, schema, profile)["tables"]["medicine_batches"]["duplicate_keys"]
        assert keys == {"id": 0, "medication_id,batch_number": 0}


def test_counts_null_rates_and_duplicates_without_values(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "legacy", "blueprint")
        conn.execute("set search_path to legacy")
        # blueprint 'medicines' has no constraints: duplicate ids are possible there.
        conn.execute(
            "insert into medicines (id, name, mrp) values"
            " ('00000000-0000-0000-0000-000000000001', 'Secret Drug A', 1),"
            " ('00000000-0000-0000-0000-000000000001', 'Secret Drug B', null),"
            " ('00000000-0000-0000-0000-000000000002', null, null),"
            " (null, 'Secret Drug C', null)"
        )
        result = profile_legacy(conn, "legacy", "blueprint")
        t = result["tables"]["medicines"]
        assert t["rows"] == 4
        assert t["null_rate"]["id"] == 0.25 and t["null_rate"]["mrp"] == 0.75 and t["null_rate"]["nickname"] == 1.0
        assert t["duplicate_keys"] == {}  # the view names carry no contract keys
        assert "Secret" not in repr(result)
        # a contract key whose constraint is missing in the source: duplicates are counted
        conn.execute("alter table medications drop constraint medications_medication_code_key")
        conn.execute("insert into medications (name, medication_code) values ('a', 'MED-1'), ('b', 'MED-1'), ('c', null)")
        dups = profile_legacy(conn, "legacy", "blueprint")["tables"]["medications"]["duplicate_keys"]
        assert dups == {"id": 0, "medication_code": 1}


def test_missing_required_column_names_table_and_column(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "public", "live")
        conn.execute("alter table patients drop column phone")
        with pytest.raises(LegacyProfileError, match=r"legacy table public\.patients is missing required column 'phone'"):
            profile_legacy(conn, "public", "live")


def test_optional_medications_columns_may_be_absent(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "public", "blueprint")
        conn.execute("alter table medications drop column mrp, drop column unit_price, add column barcode text")
        t = profile_legacy(conn, "public", "blueprint")["tables"]["medications"]
        assert t["missing_optional_columns"] == ["mrp", "unit_price"]
        assert t["extra_columns"] == ["barcode"]
        conn.execute("alter table medications drop column name cascade")
        with pytest.raises(LegacyProfileError, match=r"public\.medications is missing required column 'name'"):
            profile_legacy(conn, "public", "blueprint")


def test_missing_required_relation_and_explicit_requirements(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "public", "live")
        conn.execute("drop view medicines")
        auto = profile_legacy(conn, "public", "auto")  # auto only reports absence
        assert auto["profile"] == "live" and auto["tables"]["medicines"]["kind"] == "absent"
        with pytest.raises(LegacyProfileError, match=r"live profile are missing: public\.medicines"):
            profile_legacy(conn, "public", "live")
        with pytest.raises(LegacyProfileError, match=r"public\.patient_visits"):
            profile_legacy(conn, "public", ["patients", "patient_visits"])
        result = profile_legacy(conn, "public", ["patients", "medications"])
        assert result["profile"] is None and result["tables"]["medicines"]["kind"] == "absent"
        with pytest.raises(ValueError, match="unknown legacy profile"):
            profile_legacy(conn, "public", "staging")
        with pytest.raises(ValueError, match="not a legacy contract table"):
            profile_legacy(conn, "public", ["nope"])


# --------------------------------------------------------------------------------------------------
# Dagster


def test_legacy_specs():
    keys = [s.key for s in LEGACY_SPECS]
    assert keys == [dg.AssetKey(["legacy", n]) for n in CONTRACT.names]
    assert len(keys) == 44  # the 43 contract tables and payment_ledger
    by_name = {s.key.path[-1]: s for s in LEGACY_SPECS}
    assert all(s.group_name == "legacy" for s in LEGACY_SPECS)
    assert by_name["medicines"].metadata["legacy_profile_kind"] == "live-view-over"
    assert by_name["medicines"].metadata["base_table"] == "medications"
    assert by_name["patient_visits"].metadata["legacy_profile_kind"] == "blueprint-only"
    assert by_name["payment_ledger"].metadata["legacy_profile_kind"] == "base"
    assert by_name["users"].description == (
        f"{PLAIN['users']}\n\nSource audit note: {CONTRACT.table('users').note}"
    )
    deps = {d.asset_key for d in legacy_profile.specs_by_key[LEGACY_PROFILE_KEY].deps}
    assert deps == set(keys)
    assert legacy_profile.specs_by_key[LEGACY_PROFILE_KEY].group_name == "ops"


@pytest.mark.parametrize("profile, schema", [("live", "public"), ("blueprint", "legacy")])
def test_legacy_profile_asset(fresh_db, monkeypatch, profile, schema):
    monkeypatch.setenv("HMS_LEGACY_SCHEMA", schema)
    monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, schema, profile)
        conn.commit()
    result = dg.materialize([legacy_profile], resources={"hms_db": HmsDatabaseResource(database_url=fresh_db)})
    assert result.success
    [mat] = result.asset_materializations_for_node(legacy_profile.op.name)
    md = mat.metadata
    kinds = legacy_tables(profile)
    assert md["legacy_profile"].value == profile
    assert md["legacy_schema"].value == schema
    assert md["tables_existing"].value == list(kinds.values()).count("table")
    assert md["views"].value == list(kinds.values()).count("view")
    assert md["tables_absent"].value == list(kinds.values()).count("absent")
    summary = md["summary"].value
    assert summary.startswith("| table | kind | rows | columns | max null rate | duplicate keys |")
    assert "| patients | table | 0 | 71 |" in summary
    if profile == "live":
        assert "| medicines | view | 0 | 38 |" in summary and "| patient_visits | absent |" in summary


def test_legacy_profile_asset_fails_with_clear_message(fresh_db, monkeypatch):
    monkeypatch.setenv("HMS_LEGACY_SCHEMA", "public")
    monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "public", "live")
        conn.execute("alter table patients drop column phone")
        conn.commit()
    with pytest.raises(LegacyProfileError, match=r"public\.patients is missing required column 'phone'"):
        dg.materialize([legacy_profile], resources={"hms_db": HmsDatabaseResource(database_url=fresh_db)})
