"""Issue 5 end to end on the REAL backfill phase with generated ``tiny`` data: every suite passes a
clean backfill; a defect that slipped past the transform fails its table's blocking suite check,
named with its count, and stops that table's downstream assets in the run and the next phase across
runs (schedule gate); fixing the data and re-running passes; the CLI's report opens in headless
Chromium with each table's figures, and neither it nor the run's output or event log holds a
generated patient's or user's name, phone or email."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from backfill_helpers import prepare
from hms_pipeline.definitions import defs
from hms_pipeline.lib.jobs import PHASES
from hms_pipeline.phases import PHASE_ORDER, phase_job_name
from hms_pipeline.quality.checks import CHECK_NAME, SUITE_CHECK_NAMES
from hms_pipeline.quality.gates import failing_blocking_checks, gated_schedule, phase_gate
from hms_pipeline.quality.phi import scan_for_phi, scan_text

GRAPH = defs.resolve_asset_graph()
BACKFILL_KEYS = set(PHASES["backfill"].resolve(GRAPH))
# every canonical table the backfill phase materializes (schema.table), each with its suite check
BACKFILL_TABLES = sorted(".".join(k.path) for k in BACKFILL_KEYS if k.path[0] not in ("etl", "legacy"))

RECONCILIATIONS = [k for k in GRAPH.get_check_keys_for_assets(BACKFILL_KEYS) if k.name == "reconciliation"]
DOB_RULE = "date of birth in the future or before 1900"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Reports and the HMAC key in the test's folder (never the repo's reports/)."""
    monkeypatch.setenv("HMS_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("HMS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    return tmp_path


@contextmanager
def instance_for_test():
    """A persistent instance (schedules are evaluated only against one), its SQLite files in
    memory when the machine has /dev/shm: on disk each run's events cost seconds of fsync."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        yield instance


def run_backfill(instance: dg.DagsterInstance, url: str, monkeypatch):
    monkeypatch.setenv("HMS_DATABASE_URL", url)
    return defs.resolve_job_def(phase_job_name("backfill")).execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(".".join(e.asset_key.path), e.check_name): e for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def error_failures(result) -> list[str]:
    return [f"{t}:{c}: {e.description}" for (t, c), e in evaluations(result).items()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]


def assert_clean(result) -> list[str]:
    """Every check of every backfilled table evaluated; none failed with ERROR severity. Returns
    the WARN failures (allowed: legacy defects the migration carried with a warning)."""
    assert result.success, error_failures(result)
    ev = evaluations(result)
    assert {".".join(k.asset_key.path) for k in RECONCILIATIONS} == set(BACKFILL_TABLES)
    for table in BACKFILL_TABLES:
        assert (table, CHECK_NAME) in ev, f"{table}: its suite did not run"
    for key in RECONCILIATIONS:
        e = ev[(".".join(key.asset_key.path), key.name)]
        assert e.passed, (key, e.description)
    assert error_failures(result) == []
    warned = sorted(f"{t}:{c}" for (t, c), e in ev.items() if not e.passed)
    for (t, c), e in ev.items():
        if not e.passed:
            assert e.severity == dg.AssetCheckSeverity.WARN, (t, c)
            if c in SUITE_CHECK_NAMES:
                assert e.metadata["failed_error"].value == 0 and e.metadata["failed_warn"].value > 0, (t, e.description)
    return warned


# --- the cross-run gate on a small two-phase code location ------------------------------------------

STATE = {"first": "pass"}  # what the first phase's blocking check returns: pass | warn | error | raise


@dg.asset(key=["first", "table"], tags={"phase": "first"})
def first_table():
    return None


@dg.asset_check(asset=first_table, name="reconciliation", blocking=True)
def first_reconciliation():
    if STATE["first"] == "raise":
        raise RuntimeError("check crashed")
    return dg.AssetCheckResult(
        passed=STATE["first"] == "pass",
        severity=dg.AssetCheckSeverity.WARN if STATE["first"] == "warn" else dg.AssetCheckSeverity.ERROR,
        description=f"7 rows missing ({STATE['first']})")


@dg.asset(key=["second", "table"], deps=[first_table], tags={"phase": "second"})
def second_table():
    return None


TWO_PHASES = {"first": dg.AssetSelection.tag("phase", "first"), "second": dg.AssetSelection.tag("phase", "second")}
TWO_PHASE_DEFS = dg.Definitions(
    assets=[first_table, second_table], asset_checks=[first_reconciliation],
    jobs=[dg.define_asset_job(f"phase_{p}", selection=sel, executor_def=dg.in_process_executor)
          for p, sel in TWO_PHASES.items()],
    schedules=[gated_schedule(name="second_hourly", job_name="phase_second", phase="second", phases=TWO_PHASES,
                              cron_schedule="0 * * * *"),
               gated_schedule(name="first_hourly", job_name="phase_first", phase="first", phases=TWO_PHASES,
                              cron_schedule="0 * * * *")])


def test_a_schedule_skips_its_phase_while_an_earlier_phases_blocking_check_fails(monkeypatch):
    repo = TWO_PHASE_DEFS.get_repository_def()

    def tick(instance, name="second_hourly"):
        return repo.get_schedule_def(name).evaluate_tick(
            dg.build_schedule_context(instance=instance, repository_def=repo))

    def run_first(instance, state):
        monkeypatch.setitem(STATE, "first", state)
        return TWO_PHASE_DEFS.resolve_job_def("phase_first").execute_in_process(instance=instance, raise_on_error=False)

    with dg.instance_for_test() as instance:
        assert tick(instance).run_requests  # never ran: nothing failing
        assert run_first(instance, "pass").success and tick(instance).run_requests

        run_first(instance, "error")
        data = tick(instance)
        assert not data.run_requests
        assert data.skip_message == ("phase 'second' gated: 1 blocking check(s) of earlier phase(s) (first) failing: "
                                     "first/table:reconciliation (7 rows missing (error))")
        assert tick(instance, "first_hourly").run_requests  # a phase is not gated by its own checks

        assert run_first(instance, "warn").success  # a WARN-severity failure never blocks
        assert tick(instance).run_requests

        crashed = run_first(instance, "raise")  # the check raised: what the run left is unchecked
        assert not crashed.success
        gate = phase_gate(instance, "second", phases=TWO_PHASES, asset_graph=repo.asset_graph)
        assert [(f.name, f.evaluated, f.run_id) for f in gate.failing] == [
            ("first/table:reconciliation", False, crashed.run_id)]
        assert "not evaluated: run" in tick(instance).skip_message

        assert run_first(instance, "pass").success  # fixed and re-run: the next phase may start
        assert tick(instance).run_requests


@pytest.mark.parametrize("profile", ["blueprint", "live"])
def test_a_clean_tiny_backfill_passes_every_suite(fresh_db, env, monkeypatch, profile):
    prepare(fresh_db, profile=profile)
    result = run_backfill(dg.DagsterInstance.ephemeral(), fresh_db, monkeypatch)
    warned = assert_clean(result)
    # WARN failures of a clean tiny blueprint backfill today (none blocks; each is a legacy defect
    # carried with a warning, counted in the engine's `warnings` check or the suite's WARN rules):
    #   core/persons warnings (FABRICATED_EMAIL, FABRICATED_NAME, FUTURE_DATE) and expectations
    #     (person without any name: the fabricated 'Patient <UHID>' names nulled);
    #   core/staff warnings (UNRESOLVED_DEPARTMENT);
    #   clinical/encounters warnings (INFERRED_ENCOUNTER, NAIVE_TIMESTAMP, ORPHAN_FK, PLACEHOLDER_ROW)
    #     and expectations (type not null, IPD encounter without an admission);
    #   clinical/appointments warnings (DERIVED_STATUS, MISSING_STATUS, NAIVE_TIMESTAMP) and
    #     expectations (status / doctor_id not null);
    #   clinical/vitals warnings (INFERRED_ENCOUNTER) and expectations (diastolic >= systolic);
    #   clinical/symptoms, clinical/medical_history warnings (INFERRED_ENCOUNTER, FREE_TEXT_REF);
    #   clinical/lab_orders expectations (ordered_by not null); clinical/lab_order_items
    #     expectations (RESULTED item without a result); clinical/lab_results warnings
    #     (MISSING_UNIT, UNPARSEABLE_VALUE) and expectations (result_at not null);
    #   inpatient/admissions warnings (ORPHAN_HEADER); inpatient/bed_allocations warnings
    #     (FORMAT_VARIANT, NAIVE_TIMESTAMP, UNKNOWN_STATUS).
    # The live profile carries a similar set. Asserted above: all WARN, none ERROR, run succeeded.
    assert warned, "the generated legacy data has defects the migration must carry with a warning"


def test_a_defect_past_the_transform_blocks_downstream_and_the_next_phase_until_fixed(fresh_db, env, monkeypatch):
    prepare(fresh_db)
    persons = dg.AssetKey(["core", "persons"])
    downstream = set(dg.AssetSelection.assets(persons).downstream(include_self=False).resolve(GRAPH)) & BACKFILL_KEYS
    independent = BACKFILL_KEYS - downstream - {persons}  # its parents and unrelated tables
    assert {"core/patients", "clinical/encounters", "clinical/vitals", "inpatient/admissions"} <= {
        k.to_user_string() for k in downstream}
    assert independent  # e.g. core/facilities, ref/codes: not stopped by persons

    repo = defs.get_repository_def()
    # the real phases plus a phase after the backfill (cutover-like): gated by schema, profile, backfill
    after = gated_schedule(name="after_backfill", job_name=phase_job_name("backfill"), phase="after",
                           phases={**PHASES, "after": dg.AssetSelection.assets()}, order=(*PHASE_ORDER, "after"),
                           cron_schedule="0 * * * *")
    deltas = repo.get_schedule_def("backfill_deltas")

    def tick(schedule, instance):
        return schedule.evaluate_tick(dg.build_schedule_context(instance=instance, repository_def=repo))

    with instance_for_test() as instance:
        clean = run_backfill(instance, fresh_db, monkeypatch)
        assert_clean(clean)
        assert tick(after, instance).run_requests

        # A defect the transform should have caught: 3 live persons (patients) born in the future.
        with psycopg.connect(fresh_db) as conn:
            victims = conn.execute(
                """select p.person_id, p.dob from core.persons p join core.patients pa using (person_id)
                   where p.deleted_at is null and p.dob is not null order by p.person_id limit 3""").fetchall()
            assert len(victims) == 3
            conn.execute("update core.persons set dob = current_date + 400 where person_id = any(%s)",
                         ([v[0] for v in victims],))

        broken = run_backfill(instance, fresh_db, monkeypatch)
        assert not broken.success
        check = evaluations(broken)[("core.persons", CHECK_NAME)]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert f"ERROR {DOB_RULE}: 3" in check.description  # names the expectation and the count
        assert f"| ERROR | {DOB_RULE} | failed | 3 |" in check.metadata["summary"].value
        assert check.metadata["failed_error"].value == 1
        assert error_failures(broken) == [f"core.persons:{CHECK_NAME}: {check.description}"]
        done = materialized(broken)
        assert persons in done  # the asset itself was written; its check stopped what follows
        assert not done & downstream, sorted(k.to_user_string() for k in done & downstream)
        assert independent <= done

        # Across runs: the phase after the backfill does not start; the gate names the check.
        gate = phase_gate(instance, "after", phases={**PHASES, "after": dg.AssetSelection.assets()},
                          order=(*PHASE_ORDER, "after"), asset_graph=GRAPH)
        assert gate.closed and gate.failing[0].name == f"core/persons:{CHECK_NAME}"
        assert gate.failing[0].evaluated and gate.failing[0].run_id == broken.run_id
        # the skipped downstream tables' checks were not evaluated by the failed run: they hold too
        assert {f.name for f in gate.failing if not f.evaluated} >= {
            f"{k.to_user_string()}:reconciliation" for k in downstream}
        skipped = tick(after, instance)
        assert not skipped.run_requests
        assert f"core/persons:{CHECK_NAME} (ERROR {DOB_RULE}: 3" in skipped.skip_message
        # the backfill's own schedule keeps running: a re-run is how its failures get fixed
        assert tick(deltas, instance).run_requests

        # Fix the data, re-run: everything passes, downstream runs, the gate opens.
        with psycopg.connect(fresh_db) as conn:
            for person_id, dob in victims:
                conn.execute("update core.persons set dob = %s where person_id = %s", (dob, person_id))
        fixed = run_backfill(instance, fresh_db, monkeypatch)
        assert_clean(fixed)
        assert evaluations(fixed)[("core.persons", CHECK_NAME)].metadata["failed_error"].value == 0
        assert downstream <= materialized(fixed)
        assert failing_blocking_checks(instance, BACKFILL_KEYS, asset_graph=GRAPH) == []
        assert tick(after, instance).run_requests


# --- the report of a CLI run: headless Chromium, figures, no PHI anywhere -------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def legacy_phi(url: str) -> list[str]:
    """Every generated name, phone (as stored, its digits, +91 forms) and email of the legacy
    patients (also their emergency contacts and guardians) and users."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select name, phone, email, alternate_phone, emergency_contact_name, emergency_contact_phone,
                      guardian_name, guardian_phone from patients
               union all select name, phone, email, null, null, null, null, null from users""").fetchall()
    needles: set[str] = set()
    for name, phone, email, alt, ec_name, ec_phone, g_name, g_phone in rows:
        for n in (name, ec_name, g_name):
            if n and n.strip():
                needles.add(" ".join(n.split()))  # 'Rohan  Banerjee' -> 'Rohan Banerjee'
                if n.startswith("Dr. "):
                    needles.add(" ".join(n[4:].split()))
        for p in (phone, alt, ec_phone, g_phone):
            digits = re.sub(r"\D", "", p or "")
            if len(digits) >= 10:
                local = digits[-10:]
                needles |= {p.strip(), local, f"+91{local}", f"+91 {local}", f"+91-{local}", f"91{local}",
                            f"{local[:5]} {local[5:]}"}
        if email and email.strip():
            needles.add(email.strip())
    return sorted(needles)


def event_log_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every event of the run as stored: messages, step/check metadata, descriptions."""
    from dagster._serdes import serialize_value

    return "\n".join(serialize_value(e) for e in instance.all_logs(run_id))


@pytest.mark.one_server
def test_the_cli_report_opens_in_chromium_with_each_tables_figures_and_no_phi(fresh_db, pg_server_url, tmp_path):
    from hms_pipeline.db import database_name
    from hms_pipeline.paths import PROJECT_ROOT

    prepare(fresh_db)
    needles = legacy_phi(fresh_db)
    assert len(needles) > 100
    dagster_db = database_name(fresh_db) + "_dg"
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "DAGSTER_"))}
    env.update(HMS_DATABASE_URL=fresh_db, HMS_HOME=str(tmp_path / "home"), HMS_REPORTS_DIR=str(reports),
               HMS_LOG_LEVEL="DEBUG", HMS_DAGSTER_DATABASE=dagster_db)
    try:
        cli = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"],
                             env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
        output = cli.stdout + "\n" + cli.stderr
        assert cli.returncode == 0, output[-4000:]
        run_id = re.search(r"^run (\S+) succeeded", cli.stdout, re.M).group(1)
        index = reports / run_id / "index.html"
        assert f"validation report: {index}" in cli.stdout and index.is_file()
        assert "DEBUG" in cli.stderr  # the run's Dagster log went to stderr at DEBUG
        assert "ephemeral docs site" not in output  # GX's INFO line, once per GX context, is not ours to show

        # the instance the CLI ran on (its dagster.yaml, written by the CLI, points at dagster_db)
        with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster")) as instance:
            events = event_log_text(instance, run_id)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
            # the real schedule on the product's instance: its gate is open after a clean backfill
            repo = defs.get_repository_def()
            data = repo.get_schedule_def("backfill_deltas").evaluate_tick(
                dg.build_schedule_context(instance=instance, repository_def=repo))
            assert data.run_requests, data.skip_message
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))

    summary = json.loads((reports / run_id / "summary.json").read_text())
    tables = {t["table"]: t for t in summary["tables"]}
    assert set(BACKFILL_TABLES) <= set(tables)
    assert summary["status"] == "passed" and summary["totals"]["suites_run"] == len(BACKFILL_TABLES)
    assert (reports / run_id / "gx" / "index.html").is_file()

    # No PHI: report folder (HTML, JSON, GX Data Docs), the CLI's stdout+stderr, the run's event log.
    assert events.count('"ASSET_CHECK_EVALUATION"') >= len(BACKFILL_TABLES) and '"legacy_rows_seen"' in events
    findings = scan_for_phi([reports], needles=needles)
    # (the CLI's summary table aligns figures with runs of spaces, which the phone pattern would
    # read as one long number: a column gap is not part of a phone, so it is cut first)
    findings += scan_text(output, "CLI output", needles, patterns=False)
    findings += scan_text(re.sub(r" {2,}", " | ", output), "CLI output", patterns=True)
    findings += scan_text(events, "event log", needles)
    assert findings == [], findings[:10]

    browser = _chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install -y chromium)")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
         "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=90, check=True).stdout
    assert f">{run_id}</code>" in dom
    with psycopg.connect(fresh_db) as conn:
        for table in BACKFILL_TABLES:
            t = tables[table]
            assert f"<tr data-table=\"{table}\">" in dom, table
            for col in ("legacy_rows_seen", "legacy_rows_loaded", "legacy_rows_merged", "legacy_rows_quarantined",
                        "values_quarantined", "live_rows"):
                assert f'data-table="{table}" data-col="{col}">{t[col]}</td>' in dom, (table, col)
            # the figure shown is the table's: live rows counted independently
            cols = {r[0] for r in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0", (table,))}
            where = sql.SQL(" where deleted_at is null" if "deleted_at" in cols else "")
            live = conn.execute(sql.SQL("select count(*) from {}{}").format(
                sql.Identifier(*table.split(".")), where)).fetchone()[0]
            assert t["live_rows"] == live, table
        loaded = conn.execute("select count(*) from core.persons where deleted_at is null").fetchone()[0]
    assert loaded > 0 and tables["core.persons"]["legacy_rows_loaded"] > 0
