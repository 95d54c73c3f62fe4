"""The Dagster UI as a data engineer sees it (issue #16), in headless Chromium against the UI started
by `hms-pipeline dev`: the asset page of clinical.vitals shows its row count, its column schema and
a link to its run's report that opens; a run started from the CLI is listed on the phase_backfill
job's Runs tab. Screenshots are kept in HMS_TEST_ARTIFACTS (default: test-artifacts/)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backfill_helpers import prepare

from hms_pipeline.db import database_name
from hms_pipeline.paths import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _browse(browser: str, url: str, profile: Path, *, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` once the page's scripts and queries have settled (virtual time), and a
    screenshot of it."""
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
            "--virtual-time-budget=30000", "--window-size=1400,1000"]
    dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=True).stdout
    if screenshot is not None:
        subprocess.run([*args, f"--screenshot={screenshot}", url], capture_output=True, timeout=180, check=True)
    return dom


@pytest.mark.one_server
def test_the_asset_page_and_the_job_runs_tab_in_chromium(fresh_db, pg_server_url, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    artifacts = Path(os.environ.get("HMS_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    dagster_db = database_name(fresh_db) + "_dg"
    reports_url = f"http://127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "TABLE_", "DAGSTER_"))}
    env.update({"HMS_DATABASE_URL": fresh_db, "HMS_HOME": str(tmp_path / "hms"), "HMS_DAGSTER_DATABASE": dagster_db,
                "HMS_REPORTS_DIR": str(tmp_path / "reports"), "HMS_REPORTS_URL": reports_url})
    prepare(fresh_db)
    dev = None
    try:
        run = subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"], env=env,
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        run_id = re.search(r"^run (\S+) succeeded", run.stdout, re.M).group(1)

        port = _free_port()
        dev = subprocess.Popen([sys.executable, "-m", "hms_pipeline.cli", "dev", "--port", str(port)], env=env,
                               cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert dev.poll() is None and time.monotonic() < deadline, "the UI did not come up"
            time.sleep(0.5)
        ui = f"http://127.0.0.1:{port}"

        page = _browse(browser, f"{ui}/assets/clinical/vitals", tmp_path / "chromium",
                       screenshot=artifacts / "asset_clinical_vitals.png")
        with psycopg.connect(fresh_db) as conn:
            rows = conn.execute("select count(*) from clinical.vitals where deleted_at is null").fetchone()[0]
            columns = [r[0] for r in conn.execute(
                "select attname from pg_attribute where attrelid = 'clinical.vitals'::regclass and attnum > 0 "
                "and not attisdropped order by attnum")]
        assert rows > 0 and "Row count" in page and f"{rows:,}" in page, rows
        assert all(c in page for c in columns), [c for c in columns if c not in page]
        link = f"{reports_url}/{run_id}/index.html"
        assert link in page
        with urllib.request.urlopen(link, timeout=10) as r:  # the link opens: the report of that run
            assert r.status == 200 and run_id in r.read().decode()

        runs = _browse(browser, f"{ui}/locations/hms_pipeline/jobs/phase_backfill/runs", tmp_path / "chromium",
                       screenshot=artifacts / "job_phase_backfill_runs.png")
        assert run_id[:8] in runs, "the CLI run is not on the job's Runs tab"
        assert (artifacts / "asset_clinical_vitals.png").stat().st_size > 10_000
    finally:
        if dev is not None and dev.poll() is None:
            dev.send_signal(signal.SIGTERM)
            dev.wait(timeout=20)
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))
