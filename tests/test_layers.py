"""The package's layers point one way (contracts in pyproject.toml, checked by import-linter), and
the CLI's help and database URL answer without loading Dagster or GX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hms_pipeline.paths import PROJECT_ROOT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")  # import-linter's command, beside python
    proc = subprocess.run([str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _modules_loaded_by(argv: list[str], env_extra: dict | None = None) -> dict:
    code = (
        "import json, sys\n"
        "from hms_pipeline.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "print(json.dumps({'rc': rc, 'dagster': 'dagster' in sys.modules,\n"
        "                  'gx': 'great_expectations' in sys.modules}))\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "DAGSTER_"))}
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_loads_neither_dagster_nor_gx():
    assert _modules_loaded_by(["--help"]) == {"rc": 0, "dagster": False, "gx": False}
    assert _modules_loaded_by(["run", "--help"]) == {"rc": 0, "dagster": False, "gx": False}


def test_db_url_loads_neither_dagster_nor_gx(fresh_db):
    assert _modules_loaded_by(["db", "url"], {"HMS_DATABASE_URL": fresh_db}) == {"rc": 0, "dagster": False, "gx": False}
