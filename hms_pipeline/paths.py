"""Where the project's data files live, resolved in one place.

The product is installed in editable mode (``pip install -e .``), so ``sql/`` and
``expectations/`` are read from the checkout next to the package.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
DDL_DIR = SQL_DIR / "ddl"
LEGACY_SQL_DIR = SQL_DIR / "legacy"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def sql_file(*parts: str) -> Path:
    """Path of a SQL file under ``sql/``; raises if it does not exist."""
    path = SQL_DIR.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path


def run_dir(reports_dir: Path, run_id: str) -> Path:
    """The folder of one run's validation report: ``<reports dir>/<run id>/``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return Path(reports_dir) / safe


def report_url(base_url: str, run_id: str) -> str:
    """The address of one run's report where the reports folder is served (``HMS_REPORTS_URL``)."""
    return f"{base_url.rstrip('/')}/{run_dir(Path('.'), run_id).name}/index.html"


def outcome_path(reports_dir: Path, run_id: str, table: str) -> Path:
    """Where a table's suite outcome of one run is written (the report is built from these)."""
    return run_dir(reports_dir, run_id) / "checks" / f"{table}.json"
