"""The Dagster instance: runs, event log and schedules kept in Postgres (dagster-postgres).

By default the instance lives in its own database (``HMS_DAGSTER_DATABASE``, default
``hms_dagster``) on the canonical server, and ``DAGSTER_HOME`` defaults to ``.hms/dagster``, so the
CLI and ``dagster dev`` see the same run history and it survives restarts.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hms_pipeline.db import dagster_storage_url, sqlalchemy_url
from hms_pipeline.settings import Settings

MARKER = "# written by hms-pipeline; edit HMS_* settings instead (a file without this line is left alone)"


def render_instance_yaml(storage_url: str) -> str:
    config = {
        # dagster-postgres, its connections pooled in every process that loads this file
        # (hms_pipeline/instance_storage.py)
        "storage": {"custom": {"module": "hms_pipeline.instance_storage", "class": "PooledPostgresStorage",
                               "config": {"postgres_url": storage_url}}},
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},  # no sign-up modal over the UI (a product-managed instance)
        "run_queue": {"max_concurrent_runs": 2},
    }
    return MARKER + "\n" + yaml.safe_dump(config, sort_keys=False)


def prepare_dagster_home(settings: Settings) -> Path:
    """Write ``dagster.yaml`` (unless the user keeps their own) and point ``DAGSTER_HOME`` at it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8").startswith(MARKER):
        # dagster-postgres speaks psycopg2 (it binds NOTIFY payloads client-side); SQLAlchemy 2.1
        # maps a bare postgresql:// URL to psycopg 3, so name the driver explicitly.
        text = render_instance_yaml(sqlalchemy_url(dagster_storage_url(settings), driver="psycopg2"))
        if not config.exists() or config.read_text(encoding="utf-8") != text:
            config.write_text(text, encoding="utf-8")
            config.chmod(0o600)  # it may hold a database password
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings):
    """The persistent instance (its storage pools its connections: ``dagster.yaml`` names
    :class:`hms_pipeline.instance_storage.PooledPostgresStorage`)."""
    import dagster as dg

    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()


def code_location_label() -> str:
    """``<repository>@<code location>`` of the product's code location (``workspace.yaml``), the
    label the UI files runs under: a job's Runs tab and the Overview timeline list the runs tagged
    with it. Runs started by the CLI carry it, so they show up there like runs launched from the UI."""
    from hms_pipeline.paths import PROJECT_ROOT

    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text(encoding="utf-8"))
    location = workspace["load_from"][0]["python_module"]["location_name"]
    return f"__repository__@{location}"


def cli_run_tags() -> dict[str, str]:
    """Tags of a run started by the CLI: the code location's label (see :func:`code_location_label`)."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG  # the tag the UI filters by

    return {REPOSITORY_LABEL_TAG: code_location_label()}

