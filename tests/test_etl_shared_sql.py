"""The shared SQL of the transforms (sql/ddl/094_etl_shared.sql): each rule on its own, and the
planner still sees through the provenance lookups (inlined, one partition of the map)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg
import pytest

from hms_pipeline.sqlrun import apply_ddl

TZ = "Asia/Kolkata"


@pytest.fixture(scope="module")
def conn(pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "etlsql")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            apply_ddl(conn)
            conn.execute("set timezone = 'UTC'")
            yield conn
    finally:
        drop_database(pg_server_url, url)


def one(conn, query, *params):
    return conn.execute(query, params).fetchone()[0]


def items(conn, *texts):
    placeholders = ", ".join(["%s::text"] * len(texts))
    query = f"select ord, item, norm from etl.text_items({placeholders}) order by ord"
    return conn.execute(query, texts).fetchall()


# --- free-text lists ------------------------------------------------------------------------------

def test_text_items_split_trim_and_drop_none_words(conn):
    assert items(conn, "Penicillin, sulfa drugs; NKDA ,  none.,, Dust.") == [
        (1, "Penicillin", "penicillin"), (2, "sulfa drugs", "sulfa drugs"), (6, "Dust.", "dust")]
    assert items(conn, None) == []
    assert items(conn, "nil; N/A; -; no known drug allergies") == []


def test_text_items_yield_each_item_once_at_its_first_position(conn):
    assert items(conn, "fever, Cough, FEVER., cough") == [(1, "fever", "fever"), (2, "Cough", "cough")]
    # a 1 MB text of one repeated word is one item, not 90,000
    big = ", ".join(["penicillin"] * 90_000)
    assert len(big) > 1_000_000
    assert items(conn, big) == [(1, "penicillin", "penicillin")]


def test_text_items_of_several_texts_read_them_as_one_list(conn):
    assert items(conn, "fever", None, "cough; fever") == [(1, "fever", "fever"), (2, "cough", "cough")]


def test_predicates_follow_the_items(conn):
    for texts in (["none"], [None, None], ["", " . "], ["nil", "headache"], ["a;b"], [None, "NKDA; rash"]):
        placeholders = ", ".join(["%s::text"] * len(texts))
        has = one(conn, f"select etl.has_items({placeholders})", *texts)
        assert has == bool(one(conn, f"select count(*) from etl.text_items({placeholders})", *texts)), texts
    assert [one(conn, "select etl.is_item(%s::text)", v) for v in (None, "", "None.", " NKA ", "Pollen")] == \
        [False, False, False, False, True]
    assert one(conn, "select etl.is_none_item('No Known Allergies')") is True


def test_has_text_vitals_is_any_non_blank_value(conn):
    assert one(conn, "select etl.has_text_vitals(null::text, '  ', '')") is False
    assert one(conn, "select etl.has_text_vitals(null::text, ' 98.6 ')") is True
    assert one(conn, "select etl.has_text_vitals('NA'::text)") is True  # unparseable, still a value


def test_with_details(conn):
    assert one(conn, "select etl.with_details('Penicillin', 'reaction: ' || null, 'severity: severe')") == \
        "Penicillin (severity: severe)"
    assert one(conn, "select etl.with_details('Asthma', null::text, null::text)") == "Asthma"


# --- contact data -------------------------------------------------------------------------------------

def test_phone_and_email_normalisation(conn):
    assert one(conn, "select etl.norm_mobile('+91 98765-43210')") == "9876543210"
    assert one(conn, "select etl.norm_mobile(null)") == ""
    assert one(conn, "select etl.e164_in('098765 43210')") == "+919876543210"
    assert one(conn, "select etl.e164_in('12345')") is None
    assert one(conn, "select etl.norm_email('  Ravi.K@Example.COM ')") == "ravi.k@example.com"


# --- facility-local time ------------------------------------------------------------------------------

def test_local_wall_clock_variants_agree(conn):
    ist_0930 = datetime(2024, 3, 2, 4, 0, tzinfo=timezone.utc)  # 09:30 in Asia/Kolkata

    def clock(args):
        return one(conn, f"select etl.local_wall_clock({args}, %s)", TZ)

    assert clock("timestamptz '2024-03-02 09:30Z'") == ist_0930  # a wall clock stored as if UTC
    assert clock("date '2024-03-02', time '09:30'") == ist_0930  # a local date and time
    # a date stored at 00:00 with its time apart (patients.admission_date + admission_time) ...
    assert clock("timestamptz '2024-03-02 00:00Z', time '09:30'") == ist_0930
    # ... but a stored time of day wins, and no time is the stored value
    assert clock("timestamptz '2024-03-02 09:30Z', time '11:00'") == ist_0930
    assert clock("timestamptz '2024-03-02 09:30Z', null::time") == ist_0930
    assert str(one(conn, "select etl.local_date(timestamptz '2024-03-01 20:00Z', %s)", TZ)) == "2024-03-02"


# --- lab analytes --------------------------------------------------------------------------------------

def test_lab_analyte_rows_load_the_row_that_carries_the_data(conn):
    def rows(source, lrv, reason=None):
        return conn.execute(
            """select _legacy_table, _legacy_key, _disposition, _reason, _detail
               from etl.lab_analyte_rows('r1', 'hb', %s, %s, %s, '{"warn": "X"}'::jsonb)""",
            (source, lrv, reason)).fetchall()

    assert rows("results", ["v1", "v2"]) == [
        ("lab_reports", "r1#hb", "LOADED", None, {"warn": "X"}),
        ("lab_result_value", "v1", "MERGED", None, None),
        ("lab_result_value", "v2", "MERGED", None, None)]
    assert rows("lab_result_value", ["v1", "v2"]) == [
        ("lab_reports", "r1#hb", "MERGED", None, None),
        ("lab_result_value", "v1", "LOADED", None, {"warn": "X"}),
        ("lab_result_value", "v2", "MERGED", None, None)]
    quarantined = rows("lab_result_value", ["v1"], "ORPHAN_FK")
    assert [r[3:] for r in quarantined] == [("ORPHAN_FK", {"warn": "X"})] * 2


# --- provenance lookups ---------------------------------------------------------------------------------

def test_mapped_ids_are_inlined_and_read_one_partition(conn):
    conn.execute("select etl.id_map_partition('core.patients'), etl.id_map_partition('core.persons')")
    for query in ("select * from etl.mapped_ids('core.patients', 'patients')",
                  "select * from etl.patient_refs('run')"):
        plan = json.dumps(one(conn, "explain (format json) " + query))
        assert "Function Scan" not in plan, query  # inlined into the caller's plan
        assert "id_map_core__patients" in plan and "id_map_core__persons" not in plan, query
        assert "id_map_default" not in plan, query


def test_norm_functions_are_immutable_and_parallel_safe(conn):
    names = ["norm_mobile", "e164_in", "norm_email", "norm_item", "is_none_item", "is_item"]
    flags = dict(conn.execute(
        """select p.proname, p.provolatile::text || p.proparallel::text from pg_proc p
           where p.pronamespace = 'etl'::regnamespace and p.proname = any (%s)""", (names,)).fetchall())
    assert flags == dict.fromkeys(names, "is")  # immutable, parallel safe
