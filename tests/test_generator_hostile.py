"""The hostile legacy profiles (``hostile``: blueprint shape, ``hostile-live``: live shape) at tiny
scale against a real PostgreSQL: no constraint is left, every hostile class is in the data (queried
from the data, not only from the truth), the truth's row counts are exact, and the same seed gives
the same bytes."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import psycopg
import pytest
from psycopg import sql

from hms_pipeline.db import with_database
from hms_pipeline.legacy import gen_words as W
from hms_pipeline.legacy.generator import (
    HOSTILE_DRIFT,
    HOSTILE_KINDS,
    HOSTILE_OUTCOME,
    HOSTILE_PROFILES,
    REASON_CODES,
    generate,
)
from hms_pipeline.legacy.schema import contract, legacy_tables

PROFILES = tuple(HOSTILE_PROFILES)  # hostile, hostile-live


def _new_db(server_url: str) -> str:
    name = f"genh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def _drop_db(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def hostile(pg_server_url):
    """One tiny generation per hostile profile (seed 42), shared by the read-only tests."""
    made = {}
    try:
        for profile in PROFILES:
            url = _new_db(pg_server_url)
            made[profile] = (url, generate(url, scale="tiny", seed=42, profile=profile))
        yield made
    finally:
        for url, _ in made.values():
            _drop_db(pg_server_url, url)


def _conn(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url)
    conn.execute("set timezone to 'UTC'")
    return conn


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'r' order by 1")]


def _one(conn, query: str, *args):
    return conn.execute(query, args or None).fetchone()[0]


def _columns(conn, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select column_name, data_type from information_schema.columns where table_schema = 'public' "
        "and table_name = %s and is_generated = 'NEVER' order by ordinal_position", (table,)).fetchall()


def _fks(profile: str) -> list[tuple[str, str, str]]:
    """(child, column, parent) of every FK the contract gives, for the tables of the profile's shape."""
    kinds = legacy_tables(HOSTILE_PROFILES[profile])
    out = []
    for name, kind in kinds.items():
        if kind != "table":
            continue
        for col in contract().columns_of(name):
            if col.fk and kinds.get(col.fk.table) == "table":
                out.append((name, col.name, col.fk.table))
    return out


def _checksums(url: str, tables=None) -> dict[str, str]:
    with _conn(url) as conn:
        conn.execute("set datestyle to 'ISO, MDY'")
        out = {}
        for schema, name in [("public", t) for t in (tables or _tables(conn))] + [
                ("hms_truth", "defects"), ("hms_truth", "figures"), ("hms_truth", "run")]:
            out[f"{schema}.{name}"] = conn.execute(sql.SQL(
                "select coalesce(md5(string_agg(md5(t::text), '|' order by md5(t::text))), '') from {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(name))).fetchone()[0]
    return out


# --- the catalog ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_no_constraint_left_and_shape_kept(hostile, profile):
    url, _ = hostile[profile]
    shape = HOSTILE_PROFILES[profile]
    with _conn(url) as conn:
        assert _one(conn, """select count(*) from pg_constraint c join pg_class r on r.oid = c.conrelid
                             join pg_namespace n on n.oid = r.relnamespace
                             where n.nspname = 'public' and c.contype in ('p', 'u', 'f', 'c', 'x')""") == 0
        assert _one(conn, """select count(*) from pg_attribute a join pg_class r on r.oid = a.attrelid
                             join pg_namespace n on n.oid = r.relnamespace
                             where n.nspname = 'public' and r.relkind = 'r' and a.attnum > 0 and a.attnotnull""") == 0
        assert _one(conn, """select count(*) from pg_index i join pg_class r on r.oid = i.indrelid
                             join pg_namespace n on n.oid = r.relnamespace
                             where n.nspname = 'public' and i.indisunique""") == 0
        rel = dict(conn.execute(
            "select c.relname, case c.relkind when 'r' then 'table' when 'v' then 'view' end "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'public' and c.relkind in ('r', 'v')").fetchall())
        assert rel == {n: k for n, k in legacy_tables(shape).items() if k != "absent"}
        # drifted columns are TEXT, and the truth says which type the contract gives
        facts = {(t, d["column"]): d for t, d in conn.execute(
            "select legacy_table, detail from hms_truth.defects where kind = 'HOSTILE_TYPE_DRIFT' and legacy_key = '*'")}
        for table, column in HOSTILE_DRIFT:
            assert _one(conn, "select data_type from information_schema.columns where table_schema = 'public' "
                              "and table_name = %s and column_name = %s", table, column) == "text"
            assert facts[(table, column)]["actual_type"] == "text"
            assert facts[(table, column)]["contract_type"] != "text"
        no_constraints = {t for (t,) in conn.execute(
            "select legacy_table from hms_truth.defects where kind = 'HOSTILE_NO_CONSTRAINTS'")}
        assert {"patients", "users", "encounter", "billing"} <= no_constraints


# --- row counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_truth_row_counts_are_exact(hostile, profile):
    url, report = hostile[profile]
    with _conn(url) as conn:
        fig = {(n, k): v for n, k, v in conn.execute("select name, key, value from hms_truth.figures")}
        added = {t: n for (name, t), n in fig.items() if name == "hostile_rows_added"}
        inserted = dict(conn.execute(
            "select legacy_table, count(*) from hms_truth.defects where (detail->>'inserted')::boolean group by 1"))
        assert added == inserted and sum(added.values()) > 0
        for table in _tables(conn):
            n = _one(conn, sql.SQL("select count(*) from {}").format(sql.Identifier(table)).as_string(conn))
            assert fig[("rows", table)] == n, table
            assert report.rows[table] == n, table
        for (name, key), value in fig.items():
            if name == "hostile_defects":
                table, kind = key.split("|")
                assert value == _one(conn, "select count(*) from hms_truth.defects where legacy_table = %s and kind = %s",
                                     table, kind)
        run = dict(conn.execute("select key, value from hms_truth.run"))
        assert run["profile"] == profile and run["shape"] == HOSTILE_PROFILES[profile]
        # the outcome figures hostile rows make wrong are gone; per-row ones only for untouched rows
        names = {n for n, _ in fig}
        assert not names & set(json.loads(run["hostile_figures_dropped"]))
        touched = {k for (k,) in conn.execute(
            "select legacy_key from hms_truth.defects where kind like 'HOSTILE%%' and legacy_table = 'vitals'")}
        assert not touched & {k for n, k in fig if n == "vitals_rows_per_vitals"}


# --- the truth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_hostile_kind_has_truth(hostile, profile):
    url, _ = hostile[profile]
    with _conn(url) as conn:
        rows = conn.execute("select kind, legacy_table, legacy_key, expected, reason, detail from hms_truth.defects "
                            "where kind like 'HOSTILE%%'").fetchall()
        assert {r[0] for r in rows} == set(HOSTILE_KINDS)
        for kind, table, key, expected, reason, detail in rows:
            assert expected == HOSTILE_OUTCOME
            assert reason in REASON_CODES and reason == HOSTILE_KINDS[kind][0] or (
                kind == "HOSTILE_TYPE_DRIFT" and reason == "UNPARSEABLE_VALUE"), (kind, reason)
            assert key in ("*", "NULL") or uuid.UUID(key)
            assert len(json.dumps(detail)) < 2000  # no 1 MiB value in the truth
        # the base truth is still there (written before the hostile changes), touched rows flagged
        assert _one(conn, "select count(*) from hms_truth.defects where kind not like 'HOSTILE%%'") > 500
        assert _one(conn, "select count(*) from hms_truth.defects where kind not like 'HOSTILE%%' "
                          "and (detail->>'hostile_touched')::boolean") > 0


@pytest.mark.parametrize("profile", PROFILES)
def test_value_truth_matches_the_data(hostile, profile):
    url, _ = hostile[profile]
    with _conn(url) as conn:
        for table in _tables(conn):
            T = sql.Identifier(table)
            # ids set NULL / repeated
            nulls = _one(conn, sql.SQL("select count(*) from {} where id is null").format(T).as_string(conn))
            assert nulls == _one(conn, "select count(*) from hms_truth.defects where kind = 'HOSTILE_NULL_KEY' "
                                       "and legacy_table = %s and legacy_key = 'NULL'", table), table
            extra = _one(conn, sql.SQL("select coalesce(sum(n - 1), 0) from (select count(*) as n from {} "
                                       "where id is not null group by id having count(*) > 1) x").format(T).as_string(conn))
            assert extra == _one(conn, "select count(*) from hms_truth.defects where kind = 'HOSTILE_REPEATED_ID' "
                                       "and legacy_table = %s", table), table
        # every NULL_KEY row is found by its row_md5
        for table, key, detail in conn.execute("select legacy_table, legacy_key, detail from hms_truth.defects "
                                               "where kind = 'HOSTILE_NULL_KEY'").fetchall():
            conn.execute("set datestyle to 'ISO, MDY'")
            q = sql.SQL("select count(*) from {} t where md5(t::text) = %s").format(sql.Identifier(table))
            assert conn.execute(q, (detail["row_md5"],)).fetchone()[0] >= 1, (table, key)
        # 1 MiB strings: as many as the truth says, at most 3 per table
        big = dict(conn.execute("select legacy_table, count(*) from hms_truth.defects "
                                "where kind = 'HOSTILE_BIG_STRING' group by 1").fetchall())
        for table, n in big.items():
            assert n <= 3
            col = _one(conn, "select detail->>'column' from hms_truth.defects where kind = 'HOSTILE_BIG_STRING' "
                             "and legacy_table = %s limit 1", table)
            real = _one(conn, sql.SQL("select count(*) from {} where octet_length({}) >= 1048576").format(
                sql.Identifier(table), sql.Identifier(col)).as_string(conn))
            assert real == n, table
        # dangling / ambiguous / soft-deleted references recorded = found over every FK
        for child, col, parent in _fks(profile):
            found = conn.execute(sql.SQL(
                "select count(*) filter (where m.n is null), count(*) filter (where m.n > 1) from {} t "
                "left join (select id, count(*) as n from {} where id is not null group by id) m on m.id = t.{} "
                "where t.{} is not null").format(sql.Identifier(child), sql.Identifier(parent), sql.Identifier(col),
                                                 sql.Identifier(col))).fetchone()
            truth = conn.execute(
                "select count(*) filter (where kind = 'HOSTILE_DANGLING_REF'), "
                "count(*) filter (where kind = 'HOSTILE_AMBIGUOUS_REF') from hms_truth.defects "
                "where legacy_table = %s and detail->>'column' = %s and detail->>'parent' = %s",
                (child, col, f"{parent}.id")).fetchone()
            assert tuple(found) == tuple(truth), (child, col)


# --- every class, found in the data --------------------------------------------------------------


def _norm(expr: str) -> str:
    """SQL: a value with case, blanks and Unicode form (NFKC: full-width, no-break space) folded."""
    return f"lower(btrim(regexp_replace(normalize({expr}, NFKC), '\\s+', ' ', 'g')))"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_class_is_in_the_data(hostile, profile):
    url, _ = hostile[profile]
    with _conn(url) as conn:
        tables = _tables(conn)
        filled = [t for t in tables if _one(conn, sql.SQL("select count(*) from {}").format(
            sql.Identifier(t)).as_string(conn)) > 0]

        # duplicates that differ only by case, spaces or Unicode form
        for table, col in (("patients", "name"), ("patients", "email"), ("users", "email"), ("departments", "name"),
                           ("medications", "name"), ("ref_code", "code"), ("staff", "first_name")):
            n = _one(conn, f"select count(*) from (select {_norm(col)} from {table} where {col} is not null "
                           f"group by 1 having count(distinct {col}) > 1) x")
            assert n >= 1, (table, col)
        variants = {v for (v,) in conn.execute(
            "select distinct detail->>'variant' from hms_truth.defects where kind = 'HOSTILE_CASE_DUPLICATE'")}
        assert variants == {"case", "other_case", "spaces", "nbsp", "unicode_form"}
        assert _one(conn, "select count(*) from patients where name ~ ('[' || chr(160) || ']')") >= 1
        assert _one(conn, "select count(*) from departments where name ~ ('[' || chr(65313) || '-' || chr(65338) || ']')"
                          " or name ~ ('[' || chr(65345) || '-' || chr(65370) || ']')") >= 1 or \
            _one(conn, "select count(*) from patients where normalize(name, NFKC) <> name") >= 1
        # two names that differ only by Unicode normal form (NFC vs NFD)
        assert _one(conn, "select count(*) from patients a join patients b on normalize(a.name, NFC) = "
                          "normalize(b.name, NFC) and a.name <> b.name") >= 1
        # vocabulary values differing only by case or spaces
        assert _one(conn, "select count(*) from hms_truth.defects where kind = 'HOSTILE_VOCAB_VARIANT'") >= 3
        assert _one(conn, "select count(*) from ref_code where code <> lower(btrim(code))") >= 1

        # repeated ids in every table with rows; NULL keys
        for table in filled:
            assert _one(conn, sql.SQL("select count(*) from (select id from {} where id is not null group by id "
                                      "having count(*) > 1) x").format(sql.Identifier(table)).as_string(conn)) >= 1, table
        assert _one(conn, "select count(*) from encounter where id is null") >= 1
        assert _one(conn, "select count(*) from patients where patient_id is null") >= 1
        assert _one(conn, "select count(*) from encounter where patient_id is null") >= 1

        # NULL in any column (every column of the tables the class reached, NOT NULL ones included),
        # and empty strings
        reached = [t for (t,) in conn.execute(
            "select distinct legacy_table from hms_truth.defects where kind = 'HOSTILE_NULL_VALUE'")]
        assert {"patients", "encounter", "billing", "users", "staff"} <= set(reached)
        for table in reached:
            for col, _ in _columns(conn, table):
                if col == "id":
                    continue
                assert _one(conn, sql.SQL("select count(*) from {} where {} is null").format(
                    sql.Identifier(table), sql.Identifier(col)).as_string(conn)) >= 1, (table, col)
        assert _one(conn, "select count(*) from patients where name = '' or email = '' or phone = ''"
                          " or address = '' or patient_id = ''") >= 1 or \
            _one(conn, "select count(*) from hms_truth.defects where kind = 'HOSTILE_EMPTY_STRING' "
                       "and legacy_table = 'patients'") >= 1
        empty_tables = 0
        for table in filled:
            text_cols = [c for c, typ in _columns(conn, table) if typ in ("text", "character varying")]
            if text_cols and _one(conn, sql.SQL("select count(*) from {} where {}").format(
                    sql.Identifier(table), sql.SQL(" or ").join(
                        sql.SQL("btrim({}) = ''").format(sql.Identifier(c)) for c in text_cols)).as_string(conn)):
                empty_tables += 1
        assert empty_tables >= 5

        # 1 MiB strings
        assert _one(conn, "select count(*) from patients where octet_length(address) >= 1048576") >= 1

        # names in Tamil, Devanagari, with accents; one-word names; honorific-only names
        assert _one(conn, "select count(*) from patients where name ~ '[\u0b80-\u0bff]'") >= 1
        assert _one(conn, "select count(*) from patients where name ~ '[\u0900-\u097f]'") >= 1
        assert _one(conn, "select count(*) from patients where normalize(name, NFD) <> name "
                          "or name ~ '[\u0300-\u036f]'") >= 1
        assert _one(conn, "select count(*) from patients where name = any(%s)", W.ONE_WORD_NAMES) >= 1
        assert _one(conn, "select count(*) from patients where name = any(%s)", W.HONORIFICS) >= 1
        assert _one(conn, "select count(*) from users where name ~ '[\u0b80-\u0bff\u0900-\u097f]'") >= 1
        assert _one(conn, "select count(*) from staff where first_name ~ '[\u0b80-\u0bff\u0900-\u097f]'") >= 1

        # numbers in TEXT with commas, units or ranges
        text_numbers = [v for (v,) in conn.execute(
            "select unnest(array[height, weight, temperature, pulse, bp_systolic, total_amount, consultation_fee, "
            "op_card_amount]) from patients")] + [v for (v,) in conn.execute(
            "select unnest(array[heart_rate, temperature]) from vitals")] + [v for (v,) in conn.execute(
            "select amount from billing_payments")]
        text_numbers = [v for v in text_numbers if v]
        assert any(re.fullmatch(r"-?\d{1,3}(,\d{2,3})+(\.\d+)?|\d+,\d", v) for v in text_numbers)
        assert any(re.fullmatch(r"(Rs\.? ?|₹)?[\d.,]+ ?(cm|kg|bpm|°F|mmHg|INR|/-)?", v) and re.search(r"[^\d.,-]", v)
                   for v in text_numbers)
        assert any(re.fullmatch(r"[\d.]+ ?(-|to) ?[\d.]+", v) for v in text_numbers)
        # a drifted numeric column holding text that is no number at all
        assert _one(conn, "select count(*) from vitals where heart_rate = 'abc' or temperature = 'abc'") + \
            _one(conn, "select count(*) from billing_payments where amount in ('abc', '#VALUE!', 'null')") >= 1

        # dates at the extremes in real date/timestamp columns
        extremes = set()
        for table in filled:
            for col, typ in _columns(conn, table):
                if typ in ("date", "timestamp with time zone", "timestamp without time zone"):
                    for (d,) in conn.execute(sql.SQL("select distinct {c}::date from {t} where {c}::date in "
                                                     "('0001-01-01', '9999-12-31')").format(
                            c=sql.Identifier(col), t=sql.Identifier(table))):
                        extremes.add(d)
        assert extremes == {dt.date(1, 1, 1), dt.date(9999, 12, 31)}
        # impossible dates in TEXT
        bad = 0
        for (v,) in conn.execute("select date_of_birth from patients where date_of_birth <> '' union all "
                                 "select expiry_date from medicine_batches where expiry_date <> ''"):
            try:
                dt.date.fromisoformat(v)
            except ValueError:
                bad += 1
        assert bad >= 4

        # JSON of unexpected shapes: scalar, list of lists, nested, invalid as text
        assert _one(conn, "select count(*) from users where jsonb_typeof(permissions) in ('number', 'string')") >= 1
        assert _one(conn, "select count(*) from users where jsonb_typeof(permissions) = 'array' "
                          "and jsonb_typeof(permissions -> 0) = 'array'") >= 1
        assert _one(conn, "select count(*) from users where permissions #> '{modules,pharmacy,billing,edit}' "
                          "is not null") >= 1
        invalid = 0
        for (v,) in conn.execute("select availability_hours from doctors where availability_hours is not null"):
            try:
                json.loads(v)
            except ValueError:
                invalid += 1
        assert invalid >= 1

        # references that match nothing, more than one row, or a soft-deleted row
        dangling = ambiguous = to_deleted = 0
        for child, col, parent in _fks(profile):
            d, a = conn.execute(sql.SQL(
                "select count(*) filter (where m.n is null), count(*) filter (where m.n > 1) from {} t "
                "left join (select id, count(*) as n from {} where id is not null group by id) m on m.id = t.{} "
                "where t.{} is not null").format(sql.Identifier(child), sql.Identifier(parent), sql.Identifier(col),
                                                 sql.Identifier(col))).fetchone()
            dangling += d
            ambiguous += a
            if parent in ("doctors", "staff"):
                to_deleted += _one(conn, sql.SQL("select count(*) from {} where {} in (select id from {} "
                                                 "where deleted_at is not null)").format(
                    sql.Identifier(child), sql.Identifier(col), sql.Identifier(parent)).as_string(conn))
        assert dangling >= 5 and ambiguous >= 5 and to_deleted >= 1

        # loops: a transfer that points back at itself; a two-row cycle of transfers
        assert _one(conn, "select count(*) from stock_transactions where reference_id = id") >= 1
        assert _one(conn, "select count(*) from bed_allocations where status = 'transferred' and encounter_id is null "
                          "and ip_number is null and discharge_date = admission_date") >= 1
        # (a row without encounter_id and ip_number continues the 'transferred' row of its patient
        # discharged within an hour of its admission: here A continues B and B continues A)
        assert _one(conn, """select count(*) from bed_allocations a join bed_allocations b
                             on a.patient_id = b.patient_id and a.id <> b.id
                             and a.admission_date between b.discharge_date - interval '1 hour'
                                                      and b.discharge_date + interval '1 hour'
                             and b.admission_date between a.discharge_date - interval '1 hour'
                                                      and a.discharge_date + interval '1 hour'
                             where a.status = 'transferred' and b.status = 'transferred'
                               and a.encounter_id is null and b.encounter_id is null
                               and a.ip_number is null and b.ip_number is null
                               and a.discharge_date > a.admission_date""") >= 2


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_same_seed_same_bytes(hostile, pg_server_url, profile):
    url, _ = hostile[profile]
    tables = ["patients", "users", "staff", "doctors", "encounter", "vitals", "bed_allocations", "billing_payments",
              "medicine_batches", "ref_code"]
    base = _checksums(url, tables)
    other = _new_db(pg_server_url)
    try:
        generate(other, scale="tiny", seed=42, profile=profile)
        assert _checksums(other, tables) == base
        generate(other, scale="tiny", seed=43, profile=profile)
        changed = _checksums(other, tables)
        assert all(changed[k] != v for k, v in base.items() if k.startswith("public."))
    finally:
        _drop_db(pg_server_url, other)


def test_unknown_profile_fails(pg_server_url):
    with pytest.raises(ValueError, match="profile must be one of"):
        generate(with_database(pg_server_url, "postgres"), scale="tiny", profile="hostile-blueprint")
