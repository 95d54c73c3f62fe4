"""The expectation suites as data: one per canonical table, valid, in step with the DDL's CHECKs,
and every expectation runs on both servers (an empty canonical database, so no row fails)."""

from __future__ import annotations

import re

import psycopg
from psycopg import sql
import pytest

from hms_pipeline.sqlrun import apply_ddl, ddl_files
from hms_pipeline.quality.gx_runner import run_suite
from hms_pipeline.quality.suites import (
    SuiteError,
    load_all_suites,
    load_suite,
    suite_tables,
    validate_raw,
)
from hms_pipeline.settings import TABLE_DEFAULTS

# Canonical tables the migration loads (the audit log is the database's own, append-only journal).
CANONICAL = sorted(set(TABLE_DEFAULTS.values()) - {"ops.audit_log"})


def test_every_canonical_table_has_a_suite_and_nothing_else_does():
    assert suite_tables() == CANONICAL


def primary_key_columns(suite) -> list[str]:
    return [e.column for e in suite.expectations
            if e.type == "expect_column_values_to_not_be_null" and e.why.startswith("primary key")]


def test_every_suite_is_valid_and_checks_its_keys():
    suites = load_all_suites()  # raises SuiteError on any problem
    for table, suite in suites.items():
        assert primary_key_columns(suite), f"{table}: no not-null expectation on the primary key"
        assert all(e.why for e in suite.expectations), table
    # natural keys: uniqueness the clinic relies on
    unique = {(t, e.column) for t, s in suites.items() for e in s.expectations
              if e.type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")}
    assert {("core.patients", "uhid"), ("core.users", "email"), ("pharmacy.items", "code"),
            ("inpatient.admissions", "encounter_id"), ("inpatient.beds", "ward_id,label")} <= unique


def _ddl_enum_checks() -> dict[tuple[str, str], set[str]]:
    """(schema.table, column) -> values of every ``col text check (col in (...))`` in the DDL."""
    found = {}
    for path in ddl_files():
        text = path.read_text()
        for m in re.finditer(r"create table if not exists (\w+\.\w+) \((.*?)\n\);", text, re.S):
            for c in re.finditer(r"^\s+(\w+) text check \(\1 in \(([^)]*)\)\)", m.group(2), re.M):
                found[(m.group(1), c.group(1))] = set(re.findall(r"'([^']*)'", c.group(2)))
    return found


def test_enum_vocabularies_match_the_ddl_checks():
    checks = _ddl_enum_checks()
    assert len(checks) >= 6  # departments.type, appointments/encounters/lab items/invoices status/type, txn_type
    for (table, column), values in checks.items():
        suite = load_suite(table)
        in_set = [e for e in suite.expectations
                  if e.type == "expect_column_values_to_be_in_set" and e.column == column
                  and e.severity == "ERROR" and "row_condition" in e.kwargs]
        assert in_set, f"{table}.{column}: no ERROR in-set expectation"
        assert set(in_set[0].kwargs["value_set"]) == values, f"{table}.{column} differs from the DDL CHECK"


BASE = {"name": "core.patients", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "patient_id"},
     "meta": {"severity": "ERROR", "why": "primary key"}}]}


def _with(expectation: dict, table: str = "core.patients") -> dict:
    return {"name": table, "expectations": [*BASE["expectations"], expectation]}


@pytest.mark.parametrize("expectation, message", [
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "uhid"}, "meta": {"why": "x"}},
     "meta.severity"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "uhid"}, "meta": {"severity": "ERROR"}},
     "meta.why"),
    ({"type": "expect_column_values_to_be_unikue", "kwargs": {"column": "uhid"},
      "meta": {"severity": "ERROR", "why": "x"}}, "unknown expectation type"),
    ({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "uhid", "value_set": ["a"],
      "row_condition": 'col("uhid")=="a"', "condition_parser": "great_expectations"},
      "meta": {"severity": "WARN", "why": "x"}}, "structured row_condition"),
    ({"type": "expect_column_max_to_be_between", "kwargs": {"column": "uhid", "max_value": 1},
      "meta": {"severity": "WARN", "why": "x"}}, "PHI column"),
    ({"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query":
      "select p.patient_id from {batch} join core.persons x on x.person_id = person_id"},
      "meta": {"severity": "ERROR", "why": "x", "name": "n"}}, "needs an alias"),
    ({"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": "select 1 from {batch} p"},
      "meta": {"severity": "ERROR", "why": "x", "name": "n"}}, "remove the alias"),
    ({"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": "select 1 from core.patients"},
      "meta": {"severity": "ERROR", "why": "x", "name": "n"}}, "{batch}"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "uhid", "result_format": "COMPLETE"},
      "meta": {"severity": "ERROR", "why": "x"}}, "set by the runner"),
])
def test_validator_rejects_unsafe_or_unclear_suites(expectation, message):
    problems = validate_raw(_with(expectation), "core.patients")
    assert any(message in p for p in problems), problems


def test_suite_name_must_match_its_file(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "patients.json").write_text('{"name": "core.persons", "expectations": []}')
    with pytest.raises(SuiteError, match="name must be 'core.patients'"):
        load_suite("core.patients", tmp_path)


def test_every_expectation_runs_on_an_empty_canonical_database(fresh_db):
    """Syntax and column names of every suite against the real DDL (PG18 embedded or PG15 in CI).
    Stand-in stg tables make the row-count expectations run too."""
    suites = load_all_suites()
    needed = {r for s in suites.values() for e in s.expectations for r in e.requires}
    with psycopg.connect(fresh_db) as conn:
        apply_ddl(conn)
        extra = {"stg.users": ", role text"}  # legacy columns a query filters on
        for rel in sorted(needed):
            schema, name = rel.split(".")
            conn.execute(sql.SQL("create table {} (_key text primary key, _deleted boolean not null{})").format(
                sql.Identifier(schema, name), sql.SQL(extra.get(rel, ""))))
        conn.commit()
        # Primary keys: not null in the suite, unique by the PRIMARY KEY index (not re-proven by a scan).
        for table, suite in suites.items():
            pk = conn.execute("""select array_agg(a.attname::text order by a.attname) from pg_index i
                                 join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                                 where i.indrelid = %s::regclass and i.indisprimary""", (table,)).fetchone()[0]
            assert sorted(primary_key_columns(suite)) == pk, table
    broken = []
    for table, suite in suites.items():
        outcome = run_suite(fresh_db, table, suite)
        broken += [f"{table}: {e.label}: {e.note}" for e in outcome.expectations if e.status in ("error", "skipped")]
        failed = [e.label for e in outcome.expectations if e.status == "failed"]
        # An empty database passes everything except "there is at least one facility".
        assert failed == ([] if table != "core.facilities" else ["row count in 1..None"]), (table, failed)
    assert broken == []


def test_background_gx_import_is_safe_beside_a_suite_built_in_the_main_thread(fresh_db):
    """The backfill imports GX in a thread while its transforms go on (gx_import). GX's circular
    imports raised ``ImportError: partially initialized module`` when the main thread imported a GX
    module meanwhile; every GX import now waits for that thread first. A new process, so that GX is
    not imported yet; the prewarmed runner then validates a real suite."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hms_pipeline.quality import gx_runner, suites\n"
        "assert 'great_expectations' not in sys.modules\n"
        "gx_runner.prewarm(sys.argv[1])\n"
        "suites.to_gx_suite(suites.load_suite('core.patients', validate=True))\n"
        "outcome = gx_runner.run_suite(sys.argv[1], 'core.patients')\n"
        "assert outcome.expectations and not any(e.status == 'error' for e in outcome.expectations)\n"
        "assert len(gx_runner._RUNNERS) == 1\n"
    )
    with psycopg.connect(fresh_db) as conn:
        apply_ddl(conn)
    done = subprocess.run([sys.executable, "-c", code, fresh_db], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
