"""Create the legacy HMS schema (fixture / synthetic source) from the committed DDL.

``sql/legacy/<profile>.sql`` is rendered from the fixture contract (see
:mod:`hms_pipeline.legacy.contract`) and uses unqualified names; this module runs it with
``search_path`` set to the target schema, so the same file creates the tables in ``public`` or any
other schema (``HMS_LEGACY_SCHEMA``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import psycopg
from psycopg import sql

from hms_pipeline.legacy.contract import PROFILES, Contract, check_profile, load_contract, sql_path
from hms_pipeline.sqlrun import read_sql

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@lru_cache(maxsize=1)
def contract() -> Contract:
    """The vendored contract, parsed once."""
    return load_contract()


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema) or schema.startswith("pg_"):
        raise ValueError(f"invalid legacy schema name {schema!r} (lower-case letters, digits, underscores)")
    return schema


def legacy_tables(profile: str) -> dict[str, str]:
    """Every relation the contract defines (base tables included), in creation order, mapped to
    ``table``, ``view`` or ``absent`` for ``profile``."""
    check_profile(profile)
    c = contract()
    return {name: c.relation_kind(name, profile) for name in c.names}


def create_legacy_schema(conn: psycopg.Connection, schema: str = "public", profile: str = "blueprint") -> None:
    """Create the legacy tables (and, for ``live``, views) of ``profile`` in ``schema``.

    The schema is created if missing; its tables must not exist yet. Everything runs in one
    transaction (a savepoint if the caller has one open) with ``set local search_path`` to the
    schema; the caller's search_path is restored afterwards.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown legacy profile {profile!r}; expected one of {', '.join(PROFILES)}")
    check_schema_name(schema)
    ddl = read_sql(sql_path(profile))
    with conn.transaction():
        previous = conn.execute("select current_setting('search_path')").fetchone()[0]
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(schema)))
        with conn.cursor() as cur:
            cur.execute(sql.SQL(ddl))  # type: ignore[arg-type]  # several statements, no parameters
        conn.execute("select set_config('search_path', %s, true)", (previous,))
