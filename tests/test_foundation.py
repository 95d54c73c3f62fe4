"""The product end to end at phase 1: CLI, Dagster code location, instance in Postgres, embedded default."""

import os
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg import sql

from hms_pipeline.db import database_name, with_database
from hms_pipeline.paths import PROJECT_ROOT


def cli(*args, env_extra=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "TABLE_", "DAGSTER_"))}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "hms_pipeline.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT,
    )


def _dagster_home(env: dict):
    from pathlib import Path

    return Path(env["HMS_HOME"]) / "dagster"


@pytest.fixture
def product_env(fresh_db, pg_server_url, tmp_path):
    """Settings for a CLI run against ``fresh_db`` with its own Dagster storage database."""
    dagster_db = database_name(fresh_db) + "_dagster"
    yield {
        "HMS_DATABASE_URL": fresh_db,
        "HMS_HOME": str(tmp_path / "hms"),
        "HMS_DAGSTER_DATABASE": dagster_db,
    }
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))


def test_run_phase_schema_builds_the_schema_and_keeps_run_history(product_env, fresh_db):
    first = cli("run", "--phase", "schema", env_extra=product_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "canonical_schema" in first.stdout and "succeeded" in first.stdout
    with psycopg.connect(fresh_db) as conn:
        n = conn.execute(
            "select count(*) from information_schema.tables where table_schema = any(%s) and table_type = 'BASE TABLE'",
            (["core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref"],),
        ).fetchone()[0]
    assert n >= 37

    second = cli("run", "--phase", "schema", env_extra=product_env)
    assert second.returncode == 0, second.stderr

    # Both runs are in the Dagster instance kept in Postgres: a new process sees them.
    storage = with_database(fresh_db, product_env["HMS_DAGSTER_DATABASE"])
    with psycopg.connect(storage) as conn:
        runs = conn.execute("select count(*) from runs where status = 'SUCCESS'").fetchone()[0]
    assert runs == 2

    # ... filed under the code location, as the UI's job page and timeline filter runs
    import dagster as dg
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    from hms_pipeline.instance import code_location_label

    assert code_location_label() == "__repository__@hms_pipeline"
    with dg.DagsterInstance.from_config(str(_dagster_home(product_env))) as instance:
        listed = instance.get_runs(dg.RunsFilter(job_name="phase_schema",
                                                 tags={REPOSITORY_LABEL_TAG: code_location_label()}))
    assert len(listed) == 2


def test_the_instance_pools_its_storage_connections_also_in_run_workers(product_env, fresh_db, monkeypatch,
                                                                       pg_server_url):
    """dagster-postgres would open a connection per stored event (13 s of a 54 s demo run): the
    instance of dagster.yaml, and the one a run worker rebuilds from its ref, keep theirs."""
    import dagster as dg

    from hms_pipeline.instance import get_instance
    from hms_pipeline.instance_storage import PooledPostgresStorage
    from hms_pipeline.settings import load_settings

    for k, v in product_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = get_instance(load_settings())
    worker = dg.DagsterInstance.from_ref(instance.get_ref())  # what a launched run's process does
    dagster_db = product_env["HMS_DAGSTER_DATABASE"]

    def backends() -> int:  # sessions open on the storage database now
        with psycopg.connect(pg_server_url) as conn:
            return conn.execute("select count(*) from pg_stat_activity where datname = %s",
                                (dagster_db,)).fetchone()[0]

    def sessions() -> int:  # sessions ever opened on the storage database (counted when they end)
        with psycopg.connect(pg_server_url) as conn:
            return conn.execute("select coalesce(sum(sessions), 0) from pg_stat_database where datname = %s",
                                (dagster_db,)).fetchone()[0]

    for inst in (instance, worker):
        assert isinstance(inst.get_ref().storage_data.rehydrate(as_type=PooledPostgresStorage), PooledPostgresStorage)
        run = inst.create_run_for_job(dg.GraphDefinition(name="noop", node_defs=[]).to_job())
        before = sessions()
        for _ in range(40):
            inst.report_engine_event("probe", run)
        inst.dispose()
        # an ended session is counted when its backend exits: wait until none is left
        deadline = time.monotonic() + 15
        while backends() and time.monotonic() < deadline:
            time.sleep(0.1)
        # 40 events stored through a handful of kept connections, not one each
        assert sessions() - before <= 8, sessions() - before


def test_table_alias_setting_creates_a_view(product_env, fresh_db):
    env = {**product_env, "TABLE_PATIENTS": "app.patient_master"}
    proc = cli("run", "--phase", "schema", env_extra=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with psycopg.connect(fresh_db) as conn:
        kind = conn.execute("select relkind from pg_class where oid = 'app.patient_master'::regclass").fetchone()
    assert kind == ("v",)


def test_unreachable_database_fails_with_a_clear_message(tmp_path):
    proc = cli("run", "--phase", "schema", env_extra={
        "HMS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2",
        "HMS_HOME": str(tmp_path),
    })
    assert proc.returncode == 1
    assert "could not" in proc.stderr and "Traceback" not in proc.stderr


def test_embedded_default_starts_reuses_and_stops(tmp_path):
    env = {"HMS_HOME": str(tmp_path / "hms")}
    first = cli("db", "url", env_extra=env)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert str(tmp_path / "hms" / "pg") in url
    with psycopg.connect(url) as conn:
        assert conn.info.server_version >= 150000
        conn.execute("create table marker(x int)")
        conn.commit()
    again = cli("db", "url", env_extra=env)
    assert again.stdout.strip() == url
    with psycopg.connect(url) as conn:  # same server and data: reused, not re-created
        assert conn.execute("select count(*) from marker").fetchone() == (0,)
    stopped = cli("db", "stop", env_extra=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_dagster_definitions_validate():
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")],
        capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": ""},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generator_refuses_to_drop_a_legacy_schema_it_did_not_create(fresh_db, tmp_path):
    with psycopg.connect(fresh_db) as conn:
        conn.execute("create table public.patients (id int)")
        conn.commit()
    env = {"HMS_DATABASE_URL": fresh_db, "HMS_HOME": str(tmp_path)}
    proc = cli("legacy", "generate", "--scale", "tiny", env_extra=env)
    assert proc.returncode == 2 and "did not" in proc.stderr
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select to_regclass('public.patients') is not null").fetchone() == (True,)
    forced = cli("legacy", "generate", "--scale", "tiny", "--force", env_extra=env)
    assert forced.returncode == 0, forced.stderr
    again = cli("legacy", "generate", "--scale", "tiny", env_extra=env)  # its own data: allowed
    assert again.returncode == 0, again.stderr
