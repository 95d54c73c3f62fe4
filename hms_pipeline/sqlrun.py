"""Running SQL files inside Postgres.

Transforms are plain ``.sql`` files; values are bound by the driver (``%(name)s`` placeholders),
identifiers from configuration are composed with ``psycopg.sql.Identifier``, never formatted in.
"""

from __future__ import annotations

import hashlib
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


def ddl_fingerprint(ddl_dir: Path = DDL_DIR) -> str:
    """md5 over the names and contents of the DDL files, in the order they are applied."""
    digest = hashlib.md5()
    for path in ddl_files(ddl_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def apply_ddl(conn: psycopg.Connection, ddl_dir: Path = DDL_DIR) -> list[str]:
    """Apply every DDL file in one transaction (all or nothing). Idempotent by construction: the
    files only create what is missing. Records their fingerprint in ``etl.schema_state`` (see
    :func:`schema_problem`). Returns the file names applied."""
    applied = []
    with conn.transaction():
        # Serialize concurrent appliers (two runs starting at once).
        conn.execute("select pg_advisory_xact_lock(hashtext('hms_pipeline.ddl'))")
        for path in ddl_files(ddl_dir):
            run_sql_file(conn, path)
            applied.append(path.name)
        if conn.execute("select to_regclass('etl.schema_state') is not null").fetchone()[0]:
            conn.execute(
                """insert into etl.schema_state (fingerprint, files) values (%s, %s)
                   on conflict (singleton) do update set fingerprint = excluded.fingerprint,
                       files = excluded.files, applied_at = now()""",
                (ddl_fingerprint(ddl_dir), len(applied)))
    return applied


SCHEMA_PHASE_HINT = "run `hms-pipeline run --phase schema` (idempotent) first"


def schema_problem(conn: psycopg.Connection, ddl_dir: Path = DDL_DIR) -> str | None:
    """Why this database's canonical schema cannot serve this code, or None: not deployed at all,
    or deployed from other DDL than the code's ``sql/ddl`` (the code changed since). Names no value."""
    if not conn.execute("select to_regclass('etl.schema_state') is not null").fetchone()[0]:
        return f"the canonical schema is not deployed in this database (etl.schema_state is missing): {SCHEMA_PHASE_HINT}"
    row = conn.execute("select fingerprint, files from etl.schema_state").fetchone()
    if row is None:
        return f"the canonical schema has no record of its DDL (etl.schema_state is empty): {SCHEMA_PHASE_HINT}"
    if row[0] != ddl_fingerprint(ddl_dir):
        return (f"the canonical schema was deployed from other DDL than this code's sql/ddl ({row[1]} files then, "
                f"{len(ddl_files(ddl_dir))} now; a file changed since): {SCHEMA_PHASE_HINT}")
    return None
