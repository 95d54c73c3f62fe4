"""Quality gates on real rows: a clean table passes its suite, seeded defects fail it with the
expectation and the count named, ERROR blocks downstream assets and WARN does not, and the run
report (HTML in headless Chromium, summary.json, CLI) shows the figures without PHI."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import uuid

import dagster as dg
import psycopg
from psycopg.types.json import Jsonb
import pytest
from psycopg import sql

from hms_pipeline.cli_report import add_report_parser
from hms_pipeline.db import database_name
from hms_pipeline.sqlrun import apply_ddl
from hms_pipeline.quality import gx_runner
from hms_pipeline.quality.checks import CHECK_NAME, WARN_CHECK_NAME, outcome_path, suite_checks
from hms_pipeline.quality.gx_runner import SuiteOutcome, run_suite
from hms_pipeline.quality.phi import mask_key, scan_for_phi
from hms_pipeline.quality.reports import CheckRecord, check_records_from_instance, write_run_report
from hms_pipeline.quality.sensors import report_sensors
from hms_pipeline.resources import HmsDatabaseResource

# PHI of the seeded rows: none of it may appear in a report, a check result or an outcome file.
PEOPLE = [
    # first, last, phone, email, dob, uhid
    ("Ravi", "Kumaraswamy", "+91 98450 12345", "ravi.kumaraswamy@example.in", "1984-03-07", "AH2401-0001"),
    ("Lakshmi", "Narayanan", "+91 99001 23456", "lakshmi.n@example.in", "1990-11-21", "AH2401-0002"),
    ("Anitha", "Ramachandran", "+91 94480 65432", "dr.anitha@example.in", "1975-06-30", None),
]
NEEDLES = [v for p in PEOPLE for v in p if v]


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def seed_clean(conn: psycopg.Connection) -> None:
    """A tiny, clinically consistent hospital: one OPD visit with vitals, one inpatient stay in a bed."""
    x = conn.execute
    x("insert into core.facilities (facility_id, name, timezone) values (%s, 'Annam Hospital', 'Asia/Kolkata')",
      (uid("fac"),))
    x("insert into core.departments (department_id, facility_id, name, type) values (%s, %s, 'General Ward', 'WARD')",
      (uid("dep"), uid("fac")))
    for i, (first, last, phone, email, dob, _) in enumerate(PEOPLE):
        x("""insert into core.persons (person_id, first_name, last_name, dob, sex, phone, email, address)
             values (%s, %s, %s, %s, %s, %s, %s, '{"city": "Bengaluru"}')""",
          (uid(f"person{i}"), first, last, dob, "F" if i else "M", phone, email))
    for i, p in enumerate(PEOPLE[:2]):
        x("insert into core.patients (patient_id, person_id, uhid) values (%s, %s, %s)",
          (uid(f"patient{i}"), uid(f"person{i}"), p[5]))
    x("insert into core.staff_roles (role_id, name) values (%s, 'Doctor')", (uid("role"),))
    x("insert into core.staff (staff_id, person_id, department_id, role_id, active_from) values (%s, %s, %s, %s, now() - interval '5 years')",
      (uid("doc"), uid("person2"), uid("dep"), uid("role")))
    x("""insert into clinical.encounters (encounter_id, patient_id, type, start_at, end_at, attending_doctor_id, facility_id)
         values (%s, %s, 'OPD', now() - interval '10 days', now() - interval '10 days' + interval '1 hour', %s, %s),
                (%s, %s, 'IPD', now() - interval '3 days', null, %s, %s)""",
      (uid("enc_opd"), uid("patient0"), uid("doc"), uid("fac"), uid("enc_ipd"), uid("patient1"), uid("doc"), uid("fac")))
    for kind, value, unit in [("heart_rate", 72, "bpm"), ("temperature", 98.6, "°F"), ("bp_systolic", 120, "mmHg"),
                              ("bp_diastolic", 80, "mmHg"), ("oxygen_saturation", 98, "%"), ("weight", 70.5, "kg")]:
        x("""insert into clinical.vitals (vital_id, encounter_id, taken_at, kind, value, unit)
             values (%s, %s, now() - interval '10 days', %s, %s, %s)""", (uid(f"vital_{kind}"), uid("enc_opd"), kind, value, unit))
    x("""insert into inpatient.admissions (admission_id, encounter_id, admit_at, facility_id)
         values (%s, %s, now() - interval '3 days', %s)""", (uid("adm"), uid("enc_ipd"), uid("fac")))
    x("insert into inpatient.wards (ward_id, department_id, facility_id, name) values (%s, %s, %s, 'Ward A')",
      (uid("ward"), uid("dep"), uid("fac")))
    x("""insert into inpatient.beds (bed_id, ward_id, label, type, status)
         values (%s, %s, 'A-1', 'GENERAL', 'OCCUPIED'), (%s, %s, 'A-2', 'GENERAL', 'AVAILABLE')""",
      (uid("bed1"), uid("ward"), uid("bed2"), uid("ward")))
    x("""insert into inpatient.bed_allocations (allocation_id, admission_id, bed_id, start_at)
         values (%s, %s, %s, now() - interval '3 days')""", (uid("alloc"), uid("adm"), uid("bed1")))


SEEDED = ["core.facilities", "core.departments", "core.persons", "core.patients", "core.staff_roles", "core.staff",
          "clinical.encounters", "clinical.vitals", "inpatient.admissions", "inpatient.wards", "inpatient.beds",
          "inpatient.bed_allocations"]


@pytest.fixture
def db(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        apply_ddl(conn)
        seed_clean(conn)
        yield fresh_db, conn


@pytest.fixture
def settings_env(monkeypatch, tmp_path, db, pg_server_url):
    """The product's settings for this test: database, reports folder, home (HMAC key), and a
    Dagster storage database of its own (``report --rebuild`` reads the run's checks from it)."""
    url, _ = db
    dagster_db = database_name(url) + "_dagster"
    monkeypatch.setenv("HMS_DATABASE_URL", url)
    monkeypatch.setenv("HMS_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("HMS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HMS_REPORT_HMAC_KEY", "test-key")
    monkeypatch.setenv("HMS_DAGSTER_DATABASE", dagster_db)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    yield tmp_path / "reports"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))


def failures(outcome: SuiteOutcome) -> dict[str, tuple[str, int | None]]:
    return {e.label: (e.severity, e.count) for e in outcome.expectations if e.failed}


def test_clean_tables_pass_their_suites(db):
    url, _ = db
    for table in SEEDED:
        outcome = run_suite(url, table)
        assert failures(outcome) == {}, (table, outcome.markdown())
        assert outcome.passed and outcome.to_check_result().passed
        # row counts vs legacy need the staged legacy tables: skipped, not failed, before the first snapshot
        assert all(e.status in ("passed", "skipped") for e in outcome.expectations)


def test_out_of_range_vital_fails_the_blocking_check_and_names_expectation_and_count(db):
    url, conn = db
    conn.execute("""insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)
                    values (%s, now(), 'heart_rate', 400, 'bpm')""", (uid("enc_opd"),))
    outcome = run_suite(url, "clinical.vitals")
    label = "value outside the plausible range of its kind and unit"
    assert failures(outcome) == {label: ("ERROR", 1), "value clinically extreme for its kind and unit": ("WARN", 1)}
    result = outcome.to_check_result()
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    md = result.metadata["summary"].value
    assert label in md and "| ERROR |" in md and "| 1 |" in md
    assert result.metadata["failed_error"].value == 1


def test_warn_only_failure_fails_the_check_with_warn_severity_which_does_not_block(db):
    url, conn = db
    conn.execute("""insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)
                    values (%s, now(), 'heart_rate', 200, 'bpm')""", (uid("enc_opd"),))
    outcome = run_suite(url, "clinical.vitals")
    assert failures(outcome) == {"value clinically extreme for its kind and unit": ("WARN", 1)}
    assert outcome.status == "warn" and not outcome.blocks
    result = outcome.to_check_result()
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN  # a warning in the UI
    assert result.metadata["failed_warn"].value == 1 and result.metadata["failed_error"].value == 0


def test_duplicate_uhid_and_clinical_referential_rules(db):
    url, conn = db
    # The DDL's UNIQUE would refuse the duplicate; drop it to see the suite catch it.
    conn.execute("alter table core.patients drop constraint patients_uhid_key")
    conn.execute("insert into core.persons (person_id, first_name) values (%s, 'Dup')", (uid("person_dup"),))
    conn.execute("insert into core.patients (person_id, uhid) values (%s, 'AH2401-0001')", (uid("person_dup"),))
    assert failures(run_suite(url, "core.patients"))["uhid unique [live]"] == ("ERROR", 2)

    # An admission whose encounter is not IPD; a bed with two open allocations.
    conn.execute("update clinical.encounters set type = 'OPD' where encounter_id = %s", (uid("enc_ipd"),))
    assert failures(run_suite(url, "inpatient.admissions"))["admission without an IPD encounter"] == ("ERROR", 1)
    conn.execute("insert into clinical.encounters (encounter_id, patient_id, type, start_at) values (%s, %s, 'IPD', now())",
                 (uid("enc2"), uid("patient0")))
    conn.execute("insert into inpatient.admissions (admission_id, encounter_id, admit_at) values (%s, %s, now())",
                 (uid("adm2"), uid("enc2")))
    conn.execute("insert into inpatient.bed_allocations (admission_id, bed_id, start_at) values (%s, %s, now())",
                 (uid("adm2"), uid("bed1")))
    got = failures(run_suite(url, "inpatient.bed_allocations"))
    assert got["bed with more than one open allocation"] == ("ERROR", 1)


def test_row_count_against_the_staged_legacy_table(db):
    url, conn = db
    conn.execute("create table stg.patients (_key text primary key, _deleted boolean not null default false)")
    conn.execute("insert into stg.patients values ('a', false), ('b', true)")  # 1 live legacy row, 2 patients
    got = failures(run_suite(url, "core.patients"))
    assert got == {"live rows <= legacy rows": ("ERROR", 1)}


def test_outcomes_carry_no_values_and_gx_opens_no_network_connection(db, monkeypatch):
    url, conn = db
    conn.execute("update core.persons set email = 'AH2401-0001@annam.com', dob = '2999-01-01' where person_id = %s",
                 (uid("person0"),))
    calls = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            calls.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(gx_runner, "_RUNNERS", {})  # a fresh GX context under the guard
    outcome = run_suite(url, "core.persons")
    assert calls == []  # libpq talks to Postgres; GX itself phones nobody
    got = failures(outcome)
    assert got["date of birth in the future or before 1900"] == ("ERROR", 1)
    assert got[r"email does not match /^AH[0-9]{4}-[0-9]+@annam\.com$/ [live]"] == ("ERROR", 1)
    text = json.dumps(outcome.to_dict())
    assert not [n for n in [*NEEDLES, "AH2401-0001@annam.com", "2999-01-01"] if n.lower() in text.lower()]


def test_checks_block_downstream_on_error_and_not_on_warn(db, settings_env):
    url, conn = db

    @dg.asset(key=["clinical", "vitals"])
    def vitals():
        return None

    @dg.asset(key=["clinical", "encounters"])
    def encounters():
        return None

    @dg.asset(key=["billing", "charges"], deps=[vitals.key])
    def charges():
        return None

    checks = suite_checks(["clinical.vitals", "clinical.encounters", "nothing.here"])
    assert [c.check_specs_by_output_name for c in checks]  # two per suite (ERROR, WARN), none without one
    specs = [spec for c in checks for spec in c.check_specs]
    assert {(s.asset_key.to_user_string(), s.name, s.blocking) for s in specs} == {
        ("clinical/vitals", CHECK_NAME, True), ("clinical/encounters", CHECK_NAME, True),
        ("clinical/vitals", WARN_CHECK_NAME, False), ("clinical/encounters", WARN_CHECK_NAME, False)}

    def evaluations(result, check):
        return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()
                if e.check_name == check}

    def run():
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([vitals, encounters, charges, *checks], instance=instance,
                                resources={"hms_db": HmsDatabaseResource()}, raise_on_error=False)
        done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        return instance, result, done

    conn.execute("""insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)
                    values (%s, now(), 'oxygen_saturation', 80, '%%')""", (uid("enc_opd"),))  # WARN only (50..100 ok, 85..100 not)
    _, result, done = run()
    assert result.success and "billing/charges" in done
    evaluation = evaluations(result, WARN_CHECK_NAME)["clinical/vitals"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluations(result, CHECK_NAME)["clinical/vitals"].passed  # blocking, and nothing blocked

    conn.execute("""insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)
                    values (%s, now(), 'oxygen_saturation', 12, '%%')""", (uid("enc_opd"),))  # ERROR: below 50
    instance, result, done = run()
    assert not result.success and "billing/charges" not in done
    evaluation = evaluations(result, CHECK_NAME)["clinical/vitals"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "value outside the plausible range of its kind and unit" in evaluation.metadata["summary"].value
    saved = SuiteOutcome.read(outcome_path(settings_env, result.run_id, "clinical.vitals"))
    assert saved.blocks and saved.status == "failed"
    records = check_records_from_instance(instance, result.run_id, exclude=())
    assert {(r.table, r.passed, r.severity) for r in records} >= {("clinical.vitals", False, "ERROR")}

    # The failure sensor writes the run's report even though the run stopped at the check.
    sensors = report_sensors()
    dg.Definitions(assets=[vitals, encounters, charges], asset_checks=checks, sensors=sensors,
                   resources={"hms_db": HmsDatabaseResource()}).get_repository_def()  # loadable
    after_failure = next(s for s in sensors if s.name == "validation_report_after_failure")
    context = dg.build_run_status_sensor_context(
        sensor_name=after_failure.name, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"hms_db": HmsDatabaseResource()}).for_run_failure()
    after_failure(context)
    summary = json.loads((outcome_path(settings_env, result.run_id, "x").parent.parent / "summary.json").read_text())
    assert summary["blocking_failed"] and summary["phases"][0]["blocked_by"] == ["clinical.vitals"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _provenance(conn: psycopg.Connection, run_id: str) -> None:
    """What the engine records: provenance, quarantine (one key is a UHID: PHI), run figures."""
    for i in range(2):
        conn.execute("""insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
                        values ('patients', %s, 'core.patients', %s, 'LOADED', %s)""",
                     (uid(f"legacy_patient{i}"), uid(f"patient{i}"), run_id))
    conn.execute("""insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
                    values ('patients', %s, 'core.patients', %s, 'MERGED', %s)""", (uid("legacy_dup"), uid("patient0"), run_id))
    conn.execute("""insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
                    values ('patients', 'AH2401-0009', 'core.patients', 'MISSING_NAME', '{"column": "name"}', %s),
                           ('patients', '42', 'core.patients', 'BAD_DOB', '{}', %s)""", (run_id, run_id))
    conn.execute("""insert into etl.run_stats (run_id, canonical_table, candidates, written, unchanged, quarantined, merged, soft_deleted, seconds)
                    values (%s, 'core.patients', 5, 2, 0, 2, 1, 0, 0.25)""", (run_id,))
    # and the table's reconciliation, which the report's legacy-row figures are (README "Figures")
    conn.execute("""insert into etl.reconcile_state (canonical_table, figures, ok, run_id)
                    values ('core.patients', %s, true, %s)""",
                 (Jsonb({"table": "core.patients", "fk_violations": {}, "sources": [
                     {"legacy_table": "patients", "seen": 5, "loaded": 2, "merged": 1, "quarantined": 2, "missing": 0,
                      "quarantined_by_reason": {"BAD_DOB": 1, "MISSING_NAME": 1}, "values_quarantined": 0}]}), run_id))


def test_report_html_summary_and_cli(db, settings_env, capsys):
    url, conn = db
    run_id = "run-0001"
    _provenance(conn, run_id)
    conn.execute("""insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)
                    values (%s, now(), 'heart_rate', 400, 'bpm')""", (uid("enc_opd"),))
    outcomes = [run_suite(url, t, run_id=run_id) for t in ("core.patients", "core.persons", "clinical.vitals")]
    recon = [CheckRecord("core.patients", "reconciliation", True, description="all legacy rows accounted for")]
    index = write_run_report(conn, run_id, outcomes, settings_env, checks=recon,
                             phases={"core.patients": "backfill-core", "core.persons": "backfill-core",
                                     "clinical.vitals": "backfill-clinical"},
                             phase_order=["backfill-core", "backfill-clinical"])
    folder = index.parent
    summary = json.loads((folder / "summary.json").read_text())
    patients = next(t for t in summary["tables"] if t["table"] == "core.patients")
    assert (patients["legacy_rows_seen"], patients["legacy_rows_loaded"], patients["legacy_rows_merged"],
            patients["legacy_rows_quarantined"]) == (5, 2, 1, 2)
    assert patients["quarantined_by_reason"] == {"BAD_DOB": 1, "MISSING_NAME": 1}
    assert patients["this_run"]["rows_written"] == 2 and patients["live_rows"] == 2
    assert summary["blocking_failed"] is True
    gates = {p["phase"]: (p["status"], p["blocks_next"]) for p in summary["phases"]}
    assert gates == {"backfill-core": ("passed", False), "backfill-clinical": ("failed", False)}
    assert (folder / "gx" / "index.html").is_file() and summary["data_docs"] == "gx/index.html"

    # the quarantine a reviewer can act on: a CSV of the open entries, keys hashed unless surrogate
    import csv

    with open(folder / "quarantine.csv", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert summary["quarantine"] == {"entries": 2, "csv": "quarantine.csv"}
    assert {(r["canonical_table"], r["legacy_key"], r["reason_code"], r["column"]) for r in lines} == {
        ("core.patients", mask_key("patients", "AH2401-0009", b"test-key"), "MISSING_NAME", "name"),
        ("core.patients", "42", "BAD_DOB", "")}
    html_text = index.read_text()
    assert "href='quarantine.csv' download" in html_text
    # a chart per phase (the tables with legacy rows), and a trend once a second report is there
    assert "<svg class='phase-chart' data-phase='backfill-core'" in html_text
    assert "the trend starts with the next report" in html_text

    # PHI: names, phones, emails, dates of birth, the UHID used as a legacy key; only its hash shows.
    assert scan_for_phi([folder], needles=[*NEEDLES, "AH2401-0009"]) == []
    assert mask_key("patients", "AH2401-0009", b"test-key") in index.read_text()
    assert "42 (BAD_DOB)" in index.read_text() or "patients:42" in index.read_text()

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=60, check=True).stdout
    for col, value in [("legacy_rows_seen", 5), ("legacy_rows_loaded", 2), ("legacy_rows_merged", 1),
                       ("legacy_rows_quarantined", 2), ("live_rows", 2)]:
        assert f'data-table="core.patients" data-col="{col}">{value}</td>' in dom, col
    assert "value outside the plausible range of its kind and unit" in dom
    assert 'data-phase="backfill-clinical"' in dom and "MISSING_NAME" in dom

    # CLI: latest report by default; exit 1 because a blocking check failed.
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    capsys.readouterr()
    args = parser.parse_args(["report"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert str(index) in out and "FAILED" in out and "ERROR clinical.vitals: value outside the plausible range of its kind and unit: 1 rows" in out
    args = parser.parse_args(["report", "--run", run_id, "--json"])
    assert args.func(args) == 1
    assert json.loads(capsys.readouterr().out)["tables"][0]["table"] == "clinical.vitals"

    # Fix the vital: the rebuilt report (from the checks/ files a run leaves) passes, exit 0.
    conn.execute("delete from clinical.vitals where value = 400")
    for o in outcomes:
        o.write(folder / "checks" / f"{o.table}.json")
    fixed = run_suite(url, "clinical.vitals", run_id=run_id)
    fixed.write(folder / "checks" / "clinical.vitals.json")
    args = parser.parse_args(["report", "--run", run_id, "--rebuild"])
    assert args.func(args) == 0
    assert "run run-0001: passed" in capsys.readouterr().out

    # the trend across runs: a second report in the same folder; and the latest spot check
    assert "No spot check recorded yet" in index.read_text()
    conn.execute("""insert into compat.spot_checks (seed, tables, rows_compared, fields_compared, explained,
                                                    unexplained, unexplained_columns)
                    values (7, 2, 20, 200, 3, 1, array['patients.gender'])""")
    again = write_run_report(conn, "run-0002", outcomes, settings_env, checks=recon,
                             phases={"core.patients": "backfill-core"}, phase_order=["backfill-core"])
    later = json.loads((again.parent / "summary.json").read_text())
    assert [p["run_id"] for p in later["trend"]] == ["run-0001", "run-0002"]
    assert "<svg class='trend' data-figure='legacy_rows_quarantined'" in again.read_text()
    spot = again.read_text()
    assert "<table id='spot-check-fields'>" in spot and "<code>patients.gender</code>" in spot
    assert "20 legacy rows of 2 tables, 200 fields compared; 3 differ by a documented normalisation, 1 do not" in spot

