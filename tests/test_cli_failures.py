"""A failed step reads as one line on the terminal (issue #16): the step and its root cause (table,
column, rule; never a row value), and the path of the file holding the full trace."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from backfill_helpers import prepare
from hms_pipeline.paths import PROJECT_ROOT


@pytest.fixture
def cli_env(fresh_db, pg_server_url, tmp_path):
    """The environment of a CLI run on ``fresh_db``; the Dagster database it creates is dropped after."""
    from hms_pipeline.db import database_name

    dagster_db = database_name(fresh_db) + "_dg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "DAGSTER_"))}
    env.update(HMS_DATABASE_URL=fresh_db, HMS_HOME=str(tmp_path / "home"), HMS_REPORTS_DIR=str(tmp_path / "reports"),
               HMS_DAGSTER_DATABASE=dagster_db)
    yield env
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))


def test_a_failed_step_is_one_line_and_its_trace_goes_to_a_file(fresh_db, cli_env):
    prepare(fresh_db)
    with psycopg.connect(fresh_db) as conn:  # the legacy source lost a column every transform needs
        conn.execute("alter table public.patients drop column name cascade")
    cli = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"],
                         env=cli_env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    output = cli.stdout + cli.stderr
    assert cli.returncode == 1, output[-3000:]
    failed = [line for line in cli.stdout.splitlines() if line.startswith("STEP FAILED:")]
    assert len(failed) == 1 and "etl__legacy_snapshot" in failed[0]
    assert "patients" in failed[0] and "name" in failed[0], failed[0]
    assert "Traceback" not in output and 'File "' not in output  # no stack on the terminal
    m = re.search(r"the full error of each failed step: (\S+failures\.log)", cli.stdout)
    assert m, cli.stdout[-2000:]
    trace = open(m.group(1), encoding="utf-8").read()
    assert "== etl__legacy_snapshot" in trace and 'File "' in trace


def test_progress_lines_name_each_finished_step_with_counts(fresh_db, cli_env):
    prepare(fresh_db)
    env = {**cli_env, "HMS_PROGRESS": "1"}
    cli = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "schema"],
                         env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert cli.returncode == 0, (cli.stdout + cli.stderr)[-3000:]
    lines = re.findall(r"^\[(\d+)/(\d+)\] (\S+) [\d.]+s \(elapsed \d+s\)$", cli.stderr, re.M)
    assert lines and lines[-1][0] == lines[-1][1], cli.stderr[-2000:]  # the last line says N/N
    assert any(step == "canonical_schema" for _, _, step in lines)
    # off the terminal (no HMS_PROGRESS), nothing of it
    env.pop("HMS_PROGRESS")
    quiet = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "schema"],
                           env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert quiet.returncode == 0 and not re.search(r"^\[\d+/\d+\]", quiet.stderr, re.M)


def _backfill(cli_env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"],
                          env=cli_env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)


def test_a_backfill_before_the_schema_phase_says_to_run_it_and_writes_nothing(fresh_db, cli_env):
    """A database with legacy data but no canonical schema (the schema phase never ran, or ran with
    older DDL than the code's): the first step stops, naming the phase to run, before it stages or
    records anything; it used to fail on a missing relation of the engine."""
    from hms_pipeline.legacy.generator import generate
    from hms_pipeline.sqlrun import schema_problem

    generate(fresh_db, scale="tiny", seed=42, profile="blueprint")  # legacy only: no apply_ddl
    cli = _backfill(cli_env)
    failed = [line for line in cli.stdout.splitlines() if line.startswith("STEP FAILED:")]
    assert cli.returncode == 1 and len(failed) == 1, (cli.stdout + cli.stderr)[-3000:]
    assert "etl__legacy_snapshot" in failed[0] and "not deployed" in failed[0], failed[0]
    assert "hms-pipeline run --phase schema" in failed[0], failed[0]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from pg_namespace where nspname in ('stg', 'etl', 'core')").fetchone()[0] == 0

    schema = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "schema"],
                            env=cli_env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert schema.returncode == 0, (schema.stdout + schema.stderr)[-3000:]
    with psycopg.connect(fresh_db) as conn:
        assert schema_problem(conn) is None
        # the code's DDL moves on (as after a pull) while the database keeps the older schema
        conn.execute("update etl.schema_state set fingerprint = md5('an older sql/ddl')")
    cli = _backfill(cli_env)
    failed = [line for line in cli.stdout.splitlines() if line.startswith("STEP FAILED:")]
    assert cli.returncode == 1 and len(failed) == 1, (cli.stdout + cli.stderr)[-3000:]
    assert "other DDL than this code's sql/ddl" in failed[0] and "--phase schema" in failed[0], failed[0]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from etl.stage_runs").fetchone()[0] == 0  # nothing staged
        assert conn.execute("select count(*) from etl.change_probe").fetchone()[0] == 0  # nor recorded
