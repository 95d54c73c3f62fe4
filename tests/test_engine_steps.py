"""The engine's named steps (hms_pipeline/engine/steps.py, SQL in sql/engine/), each called alone
against a real canonical table with hand-built temp tables (_todo, _cand, _ok ...)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from hms_pipeline.engine import steps
from hms_pipeline.engine.steps import PIPELINE_ACTOR, Target

try:
    from hms_pipeline.sqlrun import apply_ddl
except ImportError:  # before the move out of hms_pipeline.lib
    from hms_pipeline.lib.sqlrun import apply_ddl

FACILITY_COLUMNS = "facility_id uuid, name text, timezone text"


def uid(key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, key)


@pytest.fixture
def conn(fresh_db):
    with psycopg.connect(fresh_db) as c:
        apply_ddl(c)
        c.execute("select etl.id_map_partition('core.facilities')")
        c.commit()
        yield c


def make_todo(conn, keys=(), legacy_table="facilities"):
    conn.execute("create temp table _todo (legacy_table text, key text) on commit drop")
    for k in keys:
        conn.execute("insert into _todo values (%s, %s)", (legacy_table, k))


def make_cand(conn, rows, columns=FACILITY_COLUMNS):
    """rows: (canonical values..., legacy_key, disposition, reason); legacy table 'facilities'."""
    conn.execute(f"""create temp table _cand ({columns}, _legacy_table text, _legacy_key text,
                                                _disposition text, _reason text, _detail jsonb) on commit drop""")
    n = len(columns.split(","))
    for r in rows:
        values, (key, disposition, reason) = r[:n], r[n:]
        conn.execute(
            f"insert into _cand values ({', '.join(['%s'] * n)}, 'facilities', %s, %s, %s, %s)",
            (*values, key, disposition, reason, '{"rule": "test"}' if reason else None))


def facilities(conn, merges=True) -> Target:
    return steps.describe(conn, "core.facilities", merges=merges)


def test_describe_reads_the_catalog_and_refuses_candidates_without_the_engine_columns(conn):
    make_cand(conn, [])
    t = facilities(conn)
    assert t.pk == "facility_id" and t.audited
    assert t.data_cols == ["facility_id", "name", "timezone"]
    assert t.compare_cols == ["name", "timezone"]
    conn.rollback()
    conn.execute("create temp table _cand on commit drop as select gen_random_uuid() as facility_id")
    with pytest.raises(steps.TransformError, match="does not return"):
        facilities(conn)
    conn.rollback()


def test_engine_sql_is_read_once_and_composed_with_identifiers():
    assert steps.engine_sql("quarantine") is steps.engine_sql("quarantine")
    with pytest.raises(FileNotFoundError):
        steps.engine_sql("no_such_step")


def test_disposition_keeps_the_first_loaded_row_of_each_id(conn):
    a, b = uid("a"), uid("b")
    make_cand(conn, [
        (a, "A", "UTC", "k3", "LOADED", None),
        (a, "A", "UTC", "k2", "LOADED", None),
        (a, "A", "UTC", "k1", "MERGED", None),  # the transform merged it: never the survivor
        (b, "B", "UTC", "k4", "MERGED", None),  # no LOADED row for b: nothing is written for it
        (b, "B", "UTC", "k5", "LOADED", "ORPHAN_FK"),  # quarantined: not in _ok
    ])
    steps.disposition(conn, facilities(conn))
    got = dict(conn.execute("select _legacy_key, _final from _ok").fetchall())
    assert got == {"k2": "LOADED", "k3": "MERGED", "k1": "MERGED", "k4": "MERGED"}
    assert steps.tally(conn)[:2] == (1, 3)
    conn.rollback()


def test_disposition_without_merges_is_a_view_that_keeps_the_transforms_disposition(conn):
    make_cand(conn, [(uid("a"), "A", "UTC", "k1", "LOADED", None), (uid("b"), "B", "UTC", "k2", "LOADED", "X")])
    steps.disposition(conn, facilities(conn, merges=False))
    assert conn.execute("select _legacy_key, _final from _ok").fetchall() == [("k1", "LOADED")]
    conn.execute("drop view _ok")
    conn.rollback()


def test_tally_counts_each_warning(conn):
    make_cand(conn, [(uid("a"), "A", "UTC", "k1", "LOADED", None), (uid("b"), "B", "UTC", "k2", "LOADED", None)])
    conn.execute("""update _cand set _detail = case _legacy_key when 'k1' then '{"warn": "W1"}'::jsonb
                    else '{"warn": "W1", "warns": ["W1", "W2"]}'::jsonb end""")
    steps.disposition(conn, facilities(conn))
    assert steps.tally(conn) == (2, 0, {"W1": 2, "W2": 1})
    conn.rollback()


def _record(conn, details: dict[str, str | None], run: str) -> list[tuple]:
    """record_warnings over candidates k1.. with these _detail values; the recorded rows after it
    (key, codes, run that wrote them)."""
    make_cand(conn, [(uid(k), k, "UTC", k, "LOADED", None) for k in details])
    for k, d in details.items():
        conn.execute("update _cand set _detail = %s::jsonb where _legacy_key = %s", (d, k))
    t = facilities(conn, merges=False)  # _ok: a view over _cand
    steps.disposition(conn, t)
    steps.record_warnings(conn, t, run)
    rows = conn.execute("""select legacy_key, codes, run_id from etl.row_warnings
                           where canonical_table = 'core.facilities' order by 1""").fetchall()
    conn.execute("drop view _ok")
    conn.execute("drop table _cand")
    return rows


def test_record_warnings_writes_only_new_and_changed_codes(conn):
    w1, w12 = '{"warn": "W1"}', '{"warn": "W2", "warns": ["W2", "W1", "W2"]}'
    first = _record(conn, {"k1": w1, "k2": w12, "k3": None}, "run1")
    assert first == [("k1", ["W1"], "run1"), ("k2", ["W1", "W2"], "run1")]
    # the same codes again: nothing is rewritten (the rows keep the run that wrote them)
    assert _record(conn, {"k1": w1, "k2": w12, "k3": None}, "run2") == first
    # k1 changes its codes, k2 loses them, k3 gains one; a key not processed keeps its row
    conn.execute("""insert into etl.row_warnings (canonical_table, legacy_table, legacy_key, codes, run_id)
                    values ('core.facilities', 'facilities', 'k9', '{W9}', 'old')""")
    assert _record(conn, {"k1": '{"warns": ["W3"]}', "k2": '{"rule": "no warning"}', "k3": w1}, "run3") == [
        ("k1", ["W3"], "run3"), ("k3", ["W1"], "run3"), ("k9", ["W9"], "old")]
    conn.rollback()


def test_quarantine_writes_one_entry_per_key_and_reason_and_resolve_closes_the_rest(conn):
    conn.execute("""insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, run_id)
                    values ('facilities', 'k2', 'core.facilities', 'ORPHAN_FK', 'old'),
                           ('facilities', 'k3', 'core.facilities', 'ORPHAN_FK', 'old')""")
    make_todo(conn, ["k1", "k2"])  # k3 not processed this run: its entry stays open
    make_cand(conn, [
        (uid("a"), "A", "UTC", "k1", "LOADED", "ORPHAN_FK"),
        (uid("a"), "A", "UTC", "k1", "LOADED", "ORPHAN_FK"),  # the same key and reason twice: one entry
        (uid("b"), "B", "UTC", "k2", "LOADED", None),  # k2 loads now
    ])
    t = facilities(conn)
    assert steps.quarantine(conn, t, "run1") == 1
    assert steps.resolve(conn, t, "run1") == 1
    rows = conn.execute("""select legacy_key, run_id, resolved_at is not null from ops.quarantine
                           where target_table = 'core.facilities' order by 1""").fetchall()
    assert rows == [("k1", "run1", False), ("k2", "run1", True), ("k3", "old", False)]
    conn.rollback()


def test_upsert_inserts_updates_only_real_changes_and_undeletes(conn):
    a, b, c = uid("a"), uid("b"), uid("c")
    conn.execute("""insert into core.facilities (facility_id, name, timezone, created_by, updated_by, deleted_at)
                    values (%s, 'A', 'UTC', 'x', 'x', null), (%s, 'B', 'UTC', 'x', 'x', now())""", (a, b))
    conn.commit()
    before = conn.execute("select updated_at from core.facilities where facility_id = %s", (a,)).fetchone()[0]
    make_cand(conn, [
        (a, "A", "UTC", "k1", "LOADED", None),  # unchanged: not written
        (b, "B", "UTC", "k2", "LOADED", None),  # soft-deleted: comes back
        (c, "C", "Asia/Kolkata", "k3", "LOADED", None),  # new
    ])
    t = facilities(conn)
    steps.disposition(conn, t)
    assert steps.upsert(conn, t, 3) == 2
    rows = conn.execute("""select name, deleted_at is null, updated_by, updated_at = %s
                           from core.facilities order by name""", (before,)).fetchall()
    assert rows == [("A", True, "x", True), ("B", True, PIPELINE_ACTOR, False), ("C", True, PIPELINE_ACTOR, False)]
    conn.rollback()


def test_upsert_bulk_path_writes_in_key_order_and_restores_the_indexes(conn, monkeypatch):
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", "1")
    make_cand(conn, [(uid(f"f{i}"), f"F{i}", "UTC", f"k{i}", "LOADED", None) for i in range(5)])
    t = facilities(conn)
    steps.disposition(conn, t)
    indexes = conn.execute("select count(*) from pg_index where indrelid = 'core.facilities'::regclass").fetchone()
    assert steps.upsert(conn, t, 5) == 5
    assert conn.execute("select count(*) from pg_index where indrelid = 'core.facilities'::regclass").fetchone() == indexes
    assert conn.execute("select count(*) from core.facilities where created_by = %s", (PIPELINE_ACTOR,)).fetchone() == (5,)
    conn.rollback()


@pytest.mark.parametrize("bulk", [False, True])
def test_provenance_records_loaded_and_merged_keys_and_rewrites_only_changes(conn, monkeypatch, bulk):
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", "1" if bulk else str(10**9))
    a, b = uid("a"), uid("b")
    conn.execute("""insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
                    values ('facilities', 'k1', 'core.facilities', %s, 'LOADED', 'old'),
                           ('facilities', 'k3', 'core.facilities', %s, 'LOADED', 'old')""", (a, a))
    make_cand(conn, [(a, "A", "UTC", "k1", "LOADED", None), (a, "A", "UTC", "k3", "LOADED", None),
                     (b, "B", "UTC", "k2", "LOADED", None)])
    t = facilities(conn)
    steps.disposition(conn, t)
    written = steps.provenance(conn, t, "run1", 3)
    rows = conn.execute("""select legacy_key, canonical_id, disposition, run_id from ops.legacy_id_map
                           where canonical_table = 'core.facilities' order by 1""").fetchall()
    assert rows == [("k1", a, "LOADED", "old"), ("k2", b, "LOADED", "run1"), ("k3", a, "MERGED", "run1")]
    assert written == 2
    conn.rollback()


def test_stale_ids_then_soft_delete_what_no_longer_loads(conn):
    a, b, c = uid("a"), uid("b"), uid("c")
    conn.execute("""insert into core.facilities (facility_id, name, timezone) values (%s, 'A', 'UTC'),
                    (%s, 'B', 'UTC'), (%s, 'C', 'UTC')""", (a, b, c))
    conn.execute("""insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
                    values ('facilities', 'k1', 'core.facilities', %s, 'LOADED', 'old'),
                           ('facilities', 'k2', 'core.facilities', %s, 'LOADED', 'old'),
                           ('facilities', 'k3', 'core.facilities', %s, 'LOADED', 'old')""", (a, b, c))
    make_todo(conn, ["k1", "k2"])  # k3 was not processed: its row stays whatever happens
    make_cand(conn, [(a, "A", "UTC", "k1", "LOADED", None),  # still loads
                     (b, "B", "UTC", "k2", "LOADED", "ORPHAN_FK")])  # no longer loads
    t = facilities(conn)
    steps.disposition(conn, t)
    steps.stale_ids(conn, t, has_sources=True)
    assert {r[0] for r in conn.execute("select canonical_id from _stale")} == {a, b}
    assert steps.soft_delete(conn, t) == 1
    live = {r[0] for r in conn.execute("select name from core.facilities where deleted_at is null")}
    assert live == {"A", "C"}
    conn.rollback()


def test_stale_ids_on_a_first_load_is_empty(conn):
    make_todo(conn, ["k1"])
    make_cand(conn, [(uid("a"), "A", "UTC", "k1", "LOADED", None)])
    t = facilities(conn)
    steps.disposition(conn, t)
    steps.stale_ids(conn, t, has_sources=True)
    assert conn.execute("select count(*) from _stale").fetchone() == (0,)
    conn.rollback()


def test_a_step_database_error_names_table_step_and_constraint_without_values(conn):
    from hms_pipeline.engine.errors import guarded

    secret = "Secret Hospital Name"
    conn.execute("insert into core.facilities (facility_id, name, timezone) values (%s, %s, 'UTC')", (uid("x"), secret))
    make_cand(conn, [(uid("y"), secret, "UTC", "k1", "LOADED", None)])  # no pre-flight here: the upsert fails
    t = facilities(conn)
    steps.disposition(conn, t)
    with pytest.raises(steps.TransformError) as info:
        guarded(t.name, "upsert", steps.upsert, conn, t, 1)
    err = info.value
    assert err.sqlstate == "23505" and err.constraint == "facilities_name_key" and err.step == "upsert"
    assert "core.facilities" in str(err) and "facilities_name_key" in str(err)
    assert secret not in str(err) and err.__cause__ is None and err.__context__ is None
    conn.rollback()


def test_planner_settings_are_a_known_list():
    """A spec's planner settings are names from a fixed list (they reach ``set_config`` as bound
    values, but a name outside the list is refused when the spec is made)."""
    from hms_pipeline.engine.spec import Source, TableSpec

    spec = TableSpec("x", "y", sources=(Source("t"),), planner=(("enable_nestloop", "off"),))
    assert spec.planner == (("enable_nestloop", "off"),)
    with pytest.raises(ValueError, match="planner setting 'search_path'"):
        TableSpec("x", "y", sources=(Source("t"),), planner=(("search_path", "evil"),))
