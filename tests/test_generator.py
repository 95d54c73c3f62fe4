"""The synthetic legacy generator against a real PostgreSQL (tiny scale, both profiles)."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from hms_pipeline.db import with_database
from hms_pipeline.legacy.generator import (
    BLUEPRINT_ONLY_KINDS,
    DEFECT_KINDS,
    DEFAULT_RATES,
    EXPECTED_OUTCOMES,
    PACKS_UNTIL,
    REASON_CODES,
    STEPS,
    generate,
    ground_truth_json,
    plan,
)
from hms_pipeline.legacy.schema import legacy_tables

PROFILES = ("blueprint", "live")


def _new_db(server_url: str) -> str:
    name = f"gen_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def _drop_db(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def tiny(pg_server_url):
    """One tiny generation per profile (seed 42), shared by the read-only tests of this module."""
    made = {}
    try:
        for profile in PROFILES:
            url = _new_db(pg_server_url)
            report = generate(url, scale="tiny", seed=42, profile=profile)
            made[profile] = (url, report)
        yield made
    finally:
        for url, _ in made.values():
            _drop_db(pg_server_url, url)


def _conn(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url)
    conn.execute("set timezone to 'UTC'")
    return conn


def _checksums(url: str, schema: str = "public") -> dict[str, str]:
    out = {}
    with _conn(url) as conn:
        names = [r[0] for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = 'r' order by 1", (schema,))]
        for name in names:
            q = sql.SQL("select coalesce(md5(string_agg(t::text, '|' order by t::text)), '') from {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(name))
            out[name] = conn.execute(q).fetchone()[0]
    return out


# --- catalog -------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_catalog_untouched_and_row_counts(tiny, profile):
    url, report = tiny[profile]
    expected = {n: k for n, k in legacy_tables(profile).items() if k != "absent"}
    with _conn(url) as conn:
        rel = dict(conn.execute(
            "select c.relname, case c.relkind when 'r' then 'table' when 'v' then 'view' else c.relkind::text end "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'v')").fetchall())
        assert rel == expected
        filled = {s.table for s in STEPS if profile == "blueprint" or s.live}
        figures = dict(conn.execute("select key, value from hms_truth.figures where name = 'rows'").fetchall())
        for name, kind in expected.items():
            if kind != "table":
                continue
            n = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(name))).fetchone()[0]
            assert figures[name] == n, name
            if name in filled:
                assert n > 0, f"{name} should have rows in the {profile} profile"
                assert report.rows[name] == n, name
            else:
                assert n == 0, f"{name} should be empty in the {profile} profile"
        if profile == "live":
            # views are not written: they return their base rows
            for view, base in (("medicines", "medications"), ("appointments", "appointment"),
                               ("billing_items", "billing_item"), ("payment_history", "payment_ledger")):
                a = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(view))).fetchone()[0]
                b = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(base))).fetchone()[0]
                assert a == b > 0
        # the truth lives in its own schema, never in the legacy one
        assert conn.execute("select count(*) from pg_tables where schemaname = 'public' and tablename in "
                            "('defects', 'figures', 'run')").fetchone()[0] == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_foreign_keys_and_lookups_resolve(tiny, profile):
    url, _ = tiny[profile]
    with _conn(url) as conn:
        fks = conn.execute(
            "select conrelid::regclass::text, a.attname, confrelid::regclass::text, af.attname "
            "from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
            "join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1] "
            "where c.contype = 'f' and c.connamespace = 'public'::regnamespace").fetchall()
        assert fks
        for child, col, parent, pcol in fks:
            bad = conn.execute(sql.SQL(
                "select count(*) from {} c where c.{} is not null and not exists "
                "(select 1 from {} p where p.{} = c.{})").format(
                sql.Identifier(child), sql.Identifier(col), sql.Identifier(parent), sql.Identifier(pcol),
                sql.Identifier(col))).fetchone()[0]
            assert bad == 0, f"{child}.{col} -> {parent}.{pcol}"
        # encounter.type_id (no FK) is an encounter_type code or a recorded dead placeholder
        stray = conn.execute(
            "select count(*) from encounter e where e.type_id is not null "
            "and not exists (select 1 from ref_code r where r.id = e.type_id and r.domain = 'encounter_type') "
            "and not exists (select 1 from hms_truth.defects d where d.kind = 'dead_ref_code' and d.legacy_key = e.id::text)"
        ).fetchone()[0]
        assert stray == 0
        # status_id columns point at their own domain
        for table, domain in (("appointment", "appt_status"), ("encounter", "encounter_status"),
                              ("billing", "bill_status")):
            wrong = conn.execute(sql.SQL(
                "select count(*) from {} t join ref_code r on r.id = t.status_id where r.domain <> %s").format(
                sql.Identifier(table)), (domain,)).fetchone()[0]
            assert wrong == 0, table


def test_fast_path_keeps_references_valid(pg_server_url):
    """Above 5k patients the FK triggers are off and two lanes run in parallel: the rows must still
    satisfy every FK, and the result must equal a second run."""
    url = _new_db(pg_server_url)
    try:
        report = generate(url, scale=6000, seed=7, profile="live")
        assert report.rows["patients"] == 6000
        with _conn(url) as conn:
            for child, col, parent, pcol in conn.execute(
                "select conrelid::regclass::text, a.attname, confrelid::regclass::text, af.attname "
                "from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
                "join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1] "
                "where c.contype = 'f' and c.connamespace = 'public'::regnamespace").fetchall():
                bad = conn.execute(sql.SQL(
                    "select count(*) from {} c where c.{} is not null and not exists "
                    "(select 1 from {} p where p.{} = c.{})").format(
                    sql.Identifier(child), sql.Identifier(col), sql.Identifier(parent), sql.Identifier(pcol),
                    sql.Identifier(col))).fetchone()[0]
                assert bad == 0, f"{child}.{col}"
        first = _checksums(url)
        generate(url, scale=6000, seed=7, profile="live")
        assert _checksums(url) == first
    finally:
        _drop_db(pg_server_url, url)


# --- shapes --------------------------------------------------------------------------------------


def test_realistic_shapes(tiny):
    url, _ = tiny["blueprint"]
    with _conn(url) as conn:
        q = lambda s, *a: conn.execute(s, a).fetchall()  # noqa: E731
        assert all(re.fullmatch(r"AH\d{4}-\d{4,}", u) for (u,) in q("select patient_id from patients"))
        assert q("select count(*) from patients where name ~ '^Patient AH'")[0][0] >= 1
        assert q("select count(*) from users where role = 'patient' and email = employee_id || '@annam.com'")[0][0] >= 1
        assert q("select count(*) from users where role in ('doctor', 'md', 'chief_doctor')")[0][0] >= 1
        assert q("select count(*) from staff where role = 'Doctor'")[0][0] >= 1
        assert all(r == initcap_r for (r, initcap_r) in q("select role, initcap(role) from staff"))
        assert q("select id from ref_code where domain = 'billing_line' and code = 'medicine'") == [
            (uuid.UUID("3a0ca26e-7dc1-4ede-9872-d798cf39d248"),)]
        assert q("select count(*) from ref_code")[0][0] == 64
        assert q("select count(*) from fee_categories")[0][0] == 6
        assert q("select count(*) from fee_rates")[0][0] == 14
        assert q("select count(*) from beds")[0][0] == 12
        numbers = [b for (b,) in q("select bill_number from billing")]
        assert all(re.fullmatch(r"(OP|AP|LB|RD|IPB)-\d{4}-\d{4,}", b) for b in numbers)
        assert q("select count(*) from billing where bill_type = 'pharmacy' and bill_no is null "
                 "and bill_number like 'AP-%%'")[0][0] >= 1
        assert q("select count(*) from billing where bill_no = bill_number and bill_number like 'OP-%%'")[0][0] >= 1
        assert all(re.fullmatch(r"RX\d{9,}", r) for (r,) in q("select prescription_id from prescriptions"))
        assert all(re.fullmatch(r"IP\d{4,}", r) for (r,) in q("select ip_number from bed_allocations where ip_number is not null"))
        assert q("select count(*) from medications where medication_code ~ '^MED-[0-9A-F]{32}$'")[0][0] >= 1
        assert q("select count(*) from medications where medication_code ~ '^MED-[0-9a-f]{24}$'")[0][0] >= 1
        assert q("select count(*) from lab_reports where jsonb_array_length(results) > 1")[0][0] >= 1
        assert q("select count(*) from billing_payments where method = 'credit'")[0][0] >= 1
        assert q("select count(*) from billing where payment_method = 'split'")[0][0] >= 1
        assert q("select count(*) from billing_item where batch_number = 'EXTERNAL' and batch_id is null")[0][0] >= 1
        # lines are derived without a join: they must agree with their bill
        assert q("select count(*) from billing_item i join billing b on b.id = i.billing_id "
                 "where i.created_at <> b.issued_at")[0][0] == 0
        assert q("select count(*) from billing_item i join billing b on b.id = i.billing_id "
                 "join ref_code r on r.id = i.line_type_id "
                 "where (b.bill_type = 'pharmacy') <> (r.code = 'medicine')")[0][0] == 0
        assert q("select count(*) from billing b where not exists "
                 "(select 1 from billing_item i where i.billing_id = b.id)")[0][0] == 0
        # medicines (blueprint) repeats medications with variants
        assert q("select count(*) from medicines m join medications d on d.id = m.id")[0][0] >= 1
        assert q("select count(*) from medicines m join medications d on d.medication_code = m.medication_code "
                 "and d.name <> m.name")[0][0] >= 1


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_data_other_seed_other_data(tiny, pg_server_url, profile):
    url, _ = tiny[profile]
    base = _checksums(url)
    truth = _checksums(url, "hms_truth")
    other = _new_db(pg_server_url)
    try:
        generate(other, scale="tiny", seed=42, profile=profile)
        assert _checksums(other) == base
        assert _checksums(other, "hms_truth") == truth
        generate(other, scale="tiny", seed=43, profile=profile)
        changed = _checksums(other)
        for table, digest in base.items():
            if digest:  # tables with rows
                assert changed[table] != digest, f"{table} did not change with the seed"
    finally:
        _drop_db(pg_server_url, other)


def test_as_of_moves_the_data(tiny, pg_server_url):
    import datetime as dt

    url, _ = tiny["live"]
    other = _new_db(pg_server_url)
    try:
        generate(other, scale="tiny", seed=42, profile="live", as_of=dt.date(2026, 6, 30))
        with _conn(other) as conn:
            assert conn.execute("select max(created_at) from patients").fetchone()[0].date() < dt.date(2026, 6, 30)
            assert conn.execute("select min(created_at) from patients").fetchone()[0].date() > dt.date(2026, 3, 31) - dt.timedelta(days=800)
        assert _checksums(other)["patients"] != _checksums(url)["patients"]
    finally:
        _drop_db(pg_server_url, other)


# --- ground truth --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_defect_kind_has_ground_truth(tiny, profile):
    url, _ = tiny[profile]
    with _conn(url) as conn:
        rows = conn.execute("select kind, expected, reason, legacy_table, legacy_key from hms_truth.defects").fetchall()
    kinds = {r[0] for r in rows}
    wanted = set(DEFECT_KINDS) - (set() if profile == "blueprint" else set(BLUEPRINT_ONLY_KINDS))
    assert wanted <= kinds, f"missing kinds: {sorted(wanted - kinds)}"
    assert kinds <= set(DEFECT_KINDS)
    outcome = re.compile(r"^(LOAD_WITH_WARN|LOAD_FK_NULL|EXCLUDE|MERGE_INTO:[0-9a-f-]{36}|QUARANTINE:[A-Z_]+)$")
    for kind, expected, reason, table, key in rows:
        assert outcome.match(expected), expected
        assert reason in REASON_CODES, reason
        if expected.startswith("QUARANTINE:"):
            assert expected.split(":", 1)[1] == reason
        assert key == "*" or uuid.UUID(key)
    # every contract defect number 1..29 is covered by some kind
    assert {n for nums, _ in DEFECT_KINDS.values() for n in nums} == set(range(1, 30))
    assert set(DEFAULT_RATES) == set(DEFECT_KINDS)
    assert all(isinstance(v, str) and v for v in REASON_CODES.values())
    assert EXPECTED_OUTCOMES


def test_merge_targets_exist_and_are_not_merged_away(tiny):
    url, _ = tiny["blueprint"]
    with _conn(url) as conn:
        rows = conn.execute("select legacy_table, legacy_key, substr(expected, 12) from hms_truth.defects "
                            "where expected like 'MERGE_INTO:%%'").fetchall()
        merged = {(t, k) for t, k, _ in rows}
        ids = set()
        for table in ("patients", "medications", "appointment", "billing_item", "billing_payments", "users"):
            ids |= {str(i) for (i,) in conn.execute(sql.SQL("select id from {}").format(sql.Identifier(table)))}
        for table, key, target in rows:
            assert target in ids, (table, key, target)
        # a duplicate patient's original is itself not a duplicate
        dup_keys = {k for t, k in merged if t == "patients"}
        assert all(target not in dup_keys for t, _, target in rows if t == "patients")


def test_figures_agree_with_the_data(tiny):
    url, _ = tiny["blueprint"]
    with _conn(url) as conn:
        fig = defaultdict(dict)
        for name, key, value in conn.execute("select name, key, value from hms_truth.figures"):
            fig[name][key] = value
        # analytes per report = JSON array length (or the normalized rows)
        for rid, results, nrows in conn.execute(
                "select r.id::text, r.results, (select count(*) from lab_result_value v where v.lab_report_id = r.id) "
                "from lab_reports r"):
            expected = len(results) if results is not None else nrows
            assert fig["analytes_per_lab_report"][rid] == expected
        assert any(v > 1 for v in fig["analytes_per_lab_report"].values())
        # stock on hand in units, recomputed here from the batch rows
        meds = {str(i) for (i,) in conn.execute("select id from medications")}
        soh: dict[str, int] = defaultdict(int)
        for med, bn, qty, received, notes in conn.execute(
                "select coalesce(medication_id, medicine_id)::text, batch_number, current_quantity, received_date, notes "
                "from medicine_batches"):
            if med not in meds:
                continue
            pack = int(re.search(r"pack of (\d+)", notes).group(1)) if received < PACKS_UNTIL else 1
            soh[f"{med}|{bn}"] += qty * pack
        assert {k: Decimal(v) for k, v in soh.items()} == fig["stock_on_hand_units"]
        # distinct drugs: medications + medicines less the duplicates
        n_med = conn.execute("select count(*) from medications").fetchone()[0]
        n_mdc = conn.execute("select count(*) from medicines").fetchone()[0]
        n_dup = conn.execute("select count(*) from hms_truth.defects where kind = 'duplicate_drug'").fetchone()[0]
        assert fig["distinct_medicines"]["*"] == n_med + n_mdc - n_dup < n_med + n_mdc
        # vitals rows: non-null values less the quarantined ones
        for vid, nn in conn.execute(
                "select id::text, num_nonnulls(blood_pressure_systolic, blood_pressure_diastolic, heart_rate, temperature, "
                "respiratory_rate, oxygen_saturation, weight, height, pain_scale, blood_glucose) from vitals"):
            bad = conn.execute("select count(*) from hms_truth.defects where kind = 'vitals_out_of_range' "
                               "and legacy_key = %s", (vid,)).fetchone()[0]
            assert fig["vitals_rows_per_vitals"][vid] == nn - bad
        assert sum(fig["vitals_rows_per_patient_text"].values()) > 0
        # money: billed and paid per patient add up to independent sums
        total_billed = conn.execute(
            "select sum(subtotal - coalesce(discount_amount, discount) + tax) from billing "
            "where issued_at < '2026-04-01'").fetchone()[0]
        assert sum(fig["money_billed"].values()) == total_billed
        total_paid = conn.execute(
            "select sum(p.amount) from billing_payments p join billing b on b.id = p.billing_id "
            "where p.amount > 0 and p.method <> 'credit' and b.issued_at < '2026-04-01'").fetchone()[0]
        assert sum(fig["money_paid"].values()) == total_paid
        # quarantine counts per (table, reason) match the defect rows
        q = conn.execute("select legacy_table || '|' || reason, count(distinct legacy_key) from hms_truth.defects "
                         "where expected like 'QUARANTINE:%%' and kind not in "
                         "('text_vitals_unparseable', 'text_vitals_out_of_range', 'vitals_out_of_range') group by 1").fetchall()
        assert dict(q) == fig["quarantined_rows"]


def test_value_level_truth_matches_the_values(tiny):
    url, _ = tiny["blueprint"]
    with _conn(url) as conn:
        for key, detail in conn.execute("select legacy_key, detail from hms_truth.defects "
                                        "where kind = 'text_vitals_unparseable'"):
            value = conn.execute(sql.SQL("select {} from patients where id = %s").format(
                sql.Identifier(detail["column"])), (key,)).fetchone()[0]
            assert value == detail["value"]
            assert not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value)
        n = conn.execute("select count(*) from hms_truth.defects where kind = 'zero_qty'").fetchone()[0]
        assert n == conn.execute("select (select count(*) from stock_transactions where quantity = 0) + "
                                 "(select count(*) from pharmacy_stock_transactions where quantity = 0)").fetchone()[0]
        n = conn.execute("select count(*) from hms_truth.defects where kind = 'negative_payment'").fetchone()[0]
        assert n == conn.execute("select count(*) from billing_payments where amount < 0").fetchone()[0] >= 1


def test_ground_truth_json(tiny):
    url, report = tiny["live"]
    truth = ground_truth_json(url)
    assert truth["run"]["seed"] == "42" and truth["run"]["profile"] == "live"
    assert len(truth["defects"]) == report.truth_rows["defects"]
    assert set(truth["figures"]) >= {"rows", "money_billed", "stock_on_hand_units", "distinct_medicines"}
    assert truth["reason_codes"] == REASON_CODES
    json.dumps(truth, default=str)


def test_rates_zero_disables_and_unknown_kind_fails(pg_server_url):
    url = _new_db(pg_server_url)
    try:
        generate(url, scale="tiny", profile="live", rates={"duplicate_patient": 0.0, "zero_qty": 0.0})
        with _conn(url) as conn:
            kinds = {k for (k,) in conn.execute("select distinct kind from hms_truth.defects")}
        assert "duplicate_patient" not in kinds and "zero_qty" not in kinds
        assert "negative_payment" in kinds
        with pytest.raises(ValueError, match="unknown defect kind"):
            generate(url, scale="tiny", rates={"nope": 0.1})
        with pytest.raises(ValueError):
            generate(url, scale=0)
    finally:
        _drop_db(pg_server_url, url)


def test_plan_scales():
    demo = plan("demo", "live")
    assert demo["np"] == 3254 and demo["nm"] == 707 and demo["nbill"] == 178 and demo["nb"] == 696
    assert plan("large")["np"] == 1_000_000
    assert plan(250)["np"] == 250
    assert plan("tiny")["np"] == 60


def test_chunking_and_schema_do_not_change_the_data(tiny, pg_server_url, monkeypatch):
    """Large scales insert in chunks of generate_series ranges: the rows must not depend on the
    chunk size, nor on the legacy schema's name."""
    import hms_pipeline.legacy.generator as gen

    url, _ = tiny["blueprint"]
    base = _checksums(url)
    other = _new_db(pg_server_url)
    try:
        monkeypatch.setattr(gen, "CHUNK_ROWS", 7)
        generate(other, schema="legacy_src", scale="tiny", seed=42, profile="blueprint")
        assert _checksums(other, "legacy_src") == base
        with _conn(other) as conn:
            assert conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0] == 0
            assert conn.execute("select count(*) from hms_truth.defects").fetchone()[0] > 0
    finally:
        _drop_db(pg_server_url, other)


def test_every_helper_call_is_inlined(tiny):
    """Speed guard: a pg_temp helper that the planner cannot inline (e.g. a parameter used twice
    with a costly argument) costs microseconds per row; EXPLAIN VERBOSE must show none."""
    import hms_pipeline.legacy.generator as gen

    url, _ = tiny["blueprint"]
    counts = plan("tiny", "blueprint", DEFAULT_RATES)
    params = gen._params(42, counts, gen.DEFAULT_AS_OF, DEFAULT_RATES)
    with psycopg.connect(url) as conn:
        gen._prepare_session(conn)
        conn.execute("set search_path to public, hms_truth")
        for step in STEPS:
            if step.table == "payment_ledger":  # absent in the blueprint profile; same file as payment_history
                continue
            extra = dict(gen.STEP_PARAMS.get(step.table, {}))
            if "n_rows_key" in extra:
                extra["n_rows"] = counts[extra.pop("n_rows_key")]
            query = gen._file_sql(step.file, step.table if step.fmt else None)
            plan_text = "\n".join(r[0] for r in conn.execute(
                sql.SQL("explain verbose ") + query, {**params, **extra, "lo": 1, "hi": 10}).fetchall())
            leftover = sorted(set(re.findall(r"pg_temp[.](\w+)", plan_text)))
            assert not leftover, f"{step.file}: {leftover}"
