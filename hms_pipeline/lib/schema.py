"""Apply the canonical schema and report what it created."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
import psycopg
from psycopg import sql

from hms_pipeline.sqlrun import apply_ddl
from hms_pipeline.settings import TABLE_DEFAULTS, Settings, parse_table_name

CANONICAL_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref", "view")

_LIST_RELATIONS = """
select n.nspname || '.' || c.relname, c.relkind
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'p')
order by 1
"""


@dataclass
class SchemaOutcome:
    server_version: str
    files: list[str]
    tables: list[str]
    created_tables: list[str]
    views: list[str]
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def table_count(self) -> int:
        return len(self.tables)

    def metadata(self) -> dict:
        rows = "\n".join(
            f"| {t} | {'created' if t in self.created_tables else 'present'} |" for t in self.tables
        )
        return {
            "server_version": self.server_version,
            "ddl_files": self.files,
            "tables": dg.MetadataValue.int(len(self.tables)),
            "tables_created": dg.MetadataValue.int(len(self.created_tables)),
            "views": self.views,
            "table_aliases": self.aliases,
            "summary": dg.MetadataValue.md("| table | this run |\n|---|---|\n" + rows),
        }


def _relations(conn: psycopg.Connection, schemas: list[str]) -> dict[str, str]:
    return dict(conn.execute(_LIST_RELATIONS, {"schemas": schemas}).fetchall())


def apply_table_aliases(conn: psycopg.Connection, settings: Settings) -> dict[str, str]:
    """For each ``TABLE_*`` set to a name other than the blueprint's, create a view of that name over
    the canonical table (the blueprint's phase 3/4 compatibility idea). Names were validated by the
    settings and are composed as identifiers."""
    aliases = {}
    for var, default in TABLE_DEFAULTS.items():
        configured = settings.table(var)
        canonical = parse_table_name(var, default)
        if str(configured) == str(canonical):
            continue
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(configured.schema)))
        conn.execute(
            sql.SQL("create or replace view {} as select * from {}").format(configured.ident, canonical.ident)
        )
        aliases[var] = f"{configured} -> {canonical}"
    return aliases


def apply_canonical_schema(conn: psycopg.Connection, settings: Settings) -> SchemaOutcome:
    before = _relations(conn, list(CANONICAL_SCHEMAS))
    files = apply_ddl(conn)
    with conn.transaction():
        aliases = apply_table_aliases(conn, settings)
    after = _relations(conn, list(CANONICAL_SCHEMAS))
    tables = [name for name, kind in after.items() if kind in ("r", "p")]
    return SchemaOutcome(
        server_version=conn.execute("show server_version").fetchone()[0],
        files=files,
        tables=tables,
        created_tables=[t for t in tables if t not in before],
        views=[name for name, kind in after.items() if kind in ("v", "m")],
        aliases=aliases,
    )
