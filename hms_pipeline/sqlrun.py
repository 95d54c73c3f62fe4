"""Running SQL files inside Postgres.

Transforms are plain ``.sql`` files; values are bound by the driver (``%(name)s`` placeholders),
identifiers from configuration are composed with ``psycopg.sql.Identifier``, never formatted in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from hms_pipeline.paths import DDL_DIR


def read_sql(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def run_sql_file(conn: psycopg.Connection, path: Path, params: Mapping[str, Any] | None = None) -> int:
    """Execute one SQL file. Without params it may hold several statements; with params it must be
    one statement. Returns the cursor's rowcount (-1 when not applicable)."""
    text = read_sql(path)
    with conn.cursor() as cur:
        if params is None:
            cur.execute(sql.SQL(text))  # type: ignore[arg-type]
        else:
            cur.execute(text, params)  # type: ignore[arg-type]
        return cur.rowcount


def ddl_files(ddl_dir: Path = DDL_DIR) -> list[Path]:
    """The canonical DDL files in the order they are applied (by file name)."""
    return sorted(p for p in Path(ddl_dir).glob("*.sql"))


def apply_ddl(conn: psycopg.Connection, ddl_dir: Path = DDL_DIR) -> list[str]:
    """Apply every DDL file in one transaction (all or nothing). Idempotent by construction: the
    files only create what is missing. Returns the file names applied."""
    applied = []
    with conn.transaction():
        # Serialize concurrent appliers (two runs starting at once).
        conn.execute("select pg_advisory_xact_lock(hashtext('hms_pipeline.ddl'))")
        for path in ddl_files(ddl_dir):
            run_sql_file(conn, path)
            applied.append(path.name)
    return applied
