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
