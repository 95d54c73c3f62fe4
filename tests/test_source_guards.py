"""A wrong or vanished legacy source never soft-deletes canonical rows: a misspelled schema, a
renamed table, an emptied table and a table shrunk beyond HMS_MAX_SHRINK stop the backfill before
anything is staged, naming the table; --accept-deletions lets a real purge through. Schema settings
that point at the target or the system are refused at start-up."""

from __future__ import annotations

import psycopg
import pytest

from backfill_helpers import backfill_cli, fingerprint, prepare, run_backfill
from test_foundation import cli


def _failure_text(result) -> str:
    """The step failures' messages, with their causes (Dagster wraps the asset's exception)."""
    out = []
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        while error is not None:
            out.append(error.message)
            error = error.cause
    return " ".join(out)


@pytest.fixture
def loaded(fresh_db, monkeypatch):
    prepare(fresh_db)
    assert run_backfill(monkeypatch, fresh_db, suites=False).success
    return fresh_db


def _live_counts(url):
    with psycopg.connect(url) as conn:
        return conn.execute("""select (select count(*) from core.patients where deleted_at is null),
                                      (select count(*) from clinical.vitals where deleted_at is null)""").fetchone()


@pytest.mark.parametrize("damage, table", [
    ("alter table patients rename to patients_renamed", "patients"),
    ("delete from vitals", "vitals"),
    ("delete from patient_allergies where ctid in (select ctid from patient_allergies limit (select count(*) / 2 from patient_allergies))",
     "patient_allergies"),
])
def test_a_damaged_source_stops_before_any_soft_delete(loaded, monkeypatch, damage, table):
    before = fingerprint(loaded)
    with psycopg.connect(loaded) as conn:
        conn.execute(damage)
    result = run_backfill(monkeypatch, loaded, suites=False)
    assert not result.success
    text = _failure_text(result)
    assert table in text and "nothing was staged" in text.lower(), text
    assert fingerprint(loaded) == before  # no canonical row changed


def test_accept_deletions_lets_a_real_purge_through(loaded, monkeypatch):
    patients_before, vitals_before = _live_counts(loaded)
    with psycopg.connect(loaded) as conn:
        conn.execute("delete from vitals")
    refused = run_backfill(monkeypatch, loaded, suites=False)
    assert not refused.success
    import dagster as dg

    from backfill_helpers import backfill_job

    accepted = backfill_job(suites=False).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}},
                    "resources": {"backfill_options": {"config": {"accept_deletions": ["vitals"]}}}})
    assert accepted.success
    patients_after, vitals_after = _live_counts(loaded)
    assert patients_after == patients_before and vitals_after < vitals_before  # vitals of patients' TEXT remain


def test_misspelled_schema_exits_1_naming_the_tables_and_changes_nothing(loaded, pg_server_url, tmp_path):
    before = fingerprint(loaded)
    with backfill_cli(loaded, pg_server_url, tmp_path) as run:
        proc = run(HMS_LEGACY_SCHEMA="legacyy")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "patients" in out and "legacyy" in out, out
    assert fingerprint(loaded) == before


def test_first_load_without_patients_stops(fresh_db, monkeypatch):
    prepare(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("drop table patients cascade")
    result = run_backfill(monkeypatch, fresh_db, suites=False)
    assert not result.success and "patients" in _failure_text(result)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from core.persons").fetchone() == (0,)


@pytest.mark.parametrize("env", [
    {"HMS_LEGACY_SCHEMA": "core"}, {"HMS_LEGACY_SCHEMA": "pg_catalog"}, {"HMS_LEGACY_SCHEMA": "stg"},
    {"HMS_LEGACY_SCHEMA": "information_schema"}, {"TABLE_PATIENTS": "information_schema.patients"},
    {"TABLE_PATIENTS": "pg_temp.patients"}, {"HMS_MAX_SHRINK": "2"},
])
def test_refused_settings_exit_2_naming_the_setting(env, tmp_path):
    proc = cli("legacy", "generate", "--scale", "tiny", env_extra={**env, "HMS_HOME": str(tmp_path),
                                                                   "HMS_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert next(iter(env)) in proc.stderr


def test_generator_refuses_a_schema_holding_a_table_it_does_not_create(fresh_db, tmp_path):
    env = {"HMS_DATABASE_URL": fresh_db, "HMS_HOME": str(tmp_path)}
    assert cli("legacy", "generate", "--scale", "tiny", env_extra=env).returncode == 0
    with psycopg.connect(fresh_db) as conn:
        conn.execute("create table public.invoices_2019 (id int)")
    proc = cli("legacy", "generate", "--scale", "tiny", env_extra=env)
    assert proc.returncode == 2 and "invoices_2019" in proc.stderr, proc.stderr
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select to_regclass('public.invoices_2019') is not null").fetchone() == (True,)
