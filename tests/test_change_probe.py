"""Nothing changed since the last successful backfill: no run is started (issue #15).

The probe (hms_pipeline/engine/probe.py) is taken when a run's snapshot starts and answers for the
next run once the run succeeded. It must see a legacy write, a write made to a canonical table
behind the pipeline's back and an edited suite; the run after a loading run is a real run (the
loading run's own writes count), and a no-change run settles it."""

from __future__ import annotations

import time

import psycopg
from backfill_helpers import failed_checks, prepare, run_backfill

from hms_pipeline import cli
from hms_pipeline.engine import probe
from hms_pipeline.settings import load_settings


def _succeeded(monkeypatch, url: str):
    result = run_backfill(monkeypatch, url, suites=False)
    assert result.success, failed_checks(result)
    with psycopg.connect(url) as conn:
        probe.mark_succeeded(conn, result.run_id)
    return result.run_id


def _until_changed(seconds: float = 15.0) -> bool:
    """The statistics system publishes a session's counters when it goes idle or ends (within about
    a second of its commit): poll for the probe to see the write."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe.unchanged(load_settings()) is None:
            return True
        time.sleep(0.2)
    return False


def _write_then_runs(monkeypatch, url: str, statement: str, *, runs_to_settle: int | None) -> None:
    """Write ``statement``; the probe must see it; then successful runs until it says "unchanged"
    again, exactly ``runs_to_settle`` of them (None: at most two)."""
    with psycopg.connect(url) as conn:
        conn.execute(statement)
    assert _until_changed()
    runs = 0
    while probe.unchanged(load_settings()) is None:
        assert runs < (runs_to_settle or 2), f"not settled after {runs} runs"
        _succeeded(monkeypatch, url)
        runs += 1
    assert runs_to_settle is None or runs == runs_to_settle, runs


def test_a_delta_run_with_nothing_changed_is_not_started(fresh_db, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HMS_REPORTS_DIR", str(tmp_path / "reports"))
    prepare(fresh_db)
    first = _succeeded(monkeypatch, fresh_db)
    # the first run loaded every table: the state it started from is not today's
    assert probe.unchanged(load_settings()) is None
    second = _succeeded(monkeypatch, fresh_db)  # a no-change run writes no canonical row: it settles
    assert probe.unchanged(load_settings())[0] == second != first

    # the CLI says so and starts no run (the Dagster instance is never created)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "never"))
    assert cli.main(["run", "--phase", "backfill", "--if-changed"]) == 0
    out = capsys.readouterr().out
    assert f"nothing changed since run {second} succeeded" in out and "not run" in out
    assert not (tmp_path / "never").exists()
    # so does the delta schedule
    from hms_pipeline.quality.gates import delta_skip_reason

    assert second in (delta_skip_reason() or "")

    first_patient = "(select id from public.patients order by id limit 1)"
    # a legacy write, even one that leaves the row as it was: the next run is needed (it writes
    # nothing, so it settles at once)
    _write_then_runs(monkeypatch, fresh_db, f"update public.patients set address = address where id = {first_patient}",
                     runs_to_settle=1)
    # a real change: the run after it is a real one too (the first run's own canonical writes count)
    _write_then_runs(monkeypatch, fresh_db, "update public.patients set address = coalesce(address, '') || ' Block B' "
                     f"where id = {first_patient}", runs_to_settle=2)
    # a write behind the pipeline's back to a canonical table
    _write_then_runs(monkeypatch, fresh_db, "update core.patients set updated_at = updated_at "
                     "where patient_id = (select min(patient_id::text)::uuid from core.patients)", runs_to_settle=None)

    # a run that did not succeed answers for nothing: a state recorded by it is not "unchanged"
    with psycopg.connect(fresh_db) as conn:
        now = probe.fingerprint(conn, conn, load_settings())
        probe.record(conn, "a-failed-run", now + ";edited")
    assert probe.unchanged(load_settings()) is not None  # the latest successful run still answers
    with psycopg.connect(fresh_db) as conn:
        assert probe.unchanged_since(conn, now + ";edited") is None


def test_an_edited_suite_or_setting_changes_the_state(fresh_db, monkeypatch, tmp_path):
    """The files and settings are part of the state: an edited suite must be re-run."""
    prepare(fresh_db, scale=30)
    monkeypatch.setenv("HMS_DATABASE_URL", fresh_db)
    settings = load_settings()
    with psycopg.connect(fresh_db) as conn:
        before = probe.fingerprint(conn, conn, settings)
        assert probe.fingerprint(conn, conn, settings) == before  # reading changes nothing
    monkeypatch.setenv("HMS_FACILITY_TIMEZONE", "Asia/Dubai")
    with psycopg.connect(fresh_db) as conn:
        assert probe.fingerprint(conn, conn, load_settings()) != before
    root = tmp_path / "project"
    (root / "expectations" / "core").mkdir(parents=True)
    suite = root / "expectations" / "core" / "patients.json"
    suite.write_text('{"name": "core.patients"}')
    files = probe.files_state(root)
    suite.write_text('{"name": "core.patients", "expectations": []}')
    assert probe.files_state(root) != files
