"""`hms-pipeline dev` (issue #16): the reports are served beside the UI, and TERM stops the webserver,
the daemon and every other child within 10 s."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import psycopg
import pytest
from psycopg import sql

from hms_pipeline.db import database_name
from hms_pipeline.paths import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


@pytest.fixture
def dev_env(fresh_db, pg_server_url, tmp_path):
    dagster_db = database_name(fresh_db) + "_dg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "TABLE_", "DAGSTER_"))}
    env.update({"HMS_DATABASE_URL": fresh_db, "HMS_HOME": str(tmp_path / "hms"), "HMS_DAGSTER_DATABASE": dagster_db,
                "HMS_REPORTS_DIR": str(tmp_path / "reports"),
                "HMS_REPORTS_URL": f"http://127.0.0.1:{_free_port()}"})
    yield env
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))


@pytest.mark.one_server
def test_term_stops_every_child_within_10_s_and_reports_are_served(dev_env, tmp_path):
    report = tmp_path / "reports" / "run-1" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>report of run-1</html>")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hms_pipeline.cli", "dev", "--port", str(port)],
                            env=dev_env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:  # the webserver answers once the code location is loaded
            try:
                if _get(f"http://127.0.0.1:{port}/server_info")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "hms-pipeline dev exited before the UI came up"
            assert time.monotonic() < deadline, "the UI did not come up within 120 s"
            time.sleep(0.5)
        status, body = _get(f"{dev_env['HMS_REPORTS_URL']}/run-1/index.html")
        assert status == 200 and b"report of run-1" in body

        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "dagster" in names and len(children) >= 2, names  # dagster dev, webserver, daemon, ...
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(children, timeout=max(0.1, 10 - (time.monotonic() - started)))
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        assert time.monotonic() - started <= 10
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in psutil.process_iter():
            try:
                if str(port) in " ".join(c.cmdline()) and c.pid != os.getpid():
                    c.kill()
            except psutil.Error:
                pass
