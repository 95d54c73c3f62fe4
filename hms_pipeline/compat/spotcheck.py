"""Random spot checks of the backfill (cutover checklist, issue #14): N sampled legacy rows per legacy
table compared field by field with what the canonical tables answer for them. No Dagster here.

The canonical answer for a legacy row is the compatibility view's (``sql/compat/<table>.sql`` over the
canonical tables and provenance, cast to the legacy types): the same code the old application reads
through after ``cutover compat``. The views are built for the check only, in a scratch schema inside
a transaction that is rolled back, over wherever the legacy tables are (the legacy schema before the
switch, the archive after), so the check runs before and during phase 3. Only rows with provenance
(``ops.legacy_id_map``: loaded or merged) are sampled; a difference is *explained* when
``mappings/compat_normalisations.csv`` lists its (table, column), else *unexplained*. The result holds
counts and table.column names only, never a value or a key; it is recorded in ``compat.spot_checks``.
"""

from __future__ import annotations

import csv
import random

import psycopg
from psycopg import sql

from hms_pipeline.compat.views import compat_tables, create_view, key_column, legacy_columns
from hms_pipeline.paths import PROJECT_ROOT

NORMALISATIONS = PROJECT_ROOT / "mappings" / "compat_normalisations.csv"
SPOT_SCHEMA = "compat_spot_check"


def normalised() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with open(NORMALISATIONS, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["table"], set()).add(row["column"])
    return out


def _base_tables(conn: psycopg.Connection, schema: str) -> set[str]:
    return {r[0] for r in conn.execute(
        """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relkind in ('r', 'p')""", (schema,)).fetchall()}


def spot_check(conn: psycopg.Connection, source_schema: str, per_table: int, *, seed: int | None = None,
               record: bool = True) -> dict:
    """Compare ``per_table`` sampled rows of every legacy table in ``source_schema`` (that has a view
    body) with the canonical answer. Returns ``{seed, tables, rows_compared, fields_compared,
    explained, unexplained, unexplained_columns}``."""
    seed = random.SystemRandom().randrange(1, 2**31) if seed is None else seed
    allowed = normalised()
    present = _base_tables(conn, source_schema)
    tables = [t for t in compat_tables() if t in present]
    rows = fields = explained = unexplained = 0
    bad: set[str] = set()
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SPOT_SCHEMA)))
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(SPOT_SCHEMA)))
        for t in tables:
            cols = legacy_columns(conn, source_schema, t)
            key = key_column(conn, source_schema, t, cols)
            create_view(conn, t, view_schema=SPOT_SCHEMA, archive_schema=source_schema, writable=False)
            k = sql.Identifier(key)
            keys = [r[0] for r in conn.execute(sql.SQL(
                """select x.{k} from {src} as x
                   where exists (select 1 from ops.legacy_id_map m where m.legacy_table = %s and m.legacy_key = x.{k}::text)
                   order by md5(x.{k}::text || %s) limit %s""").format(k=k, src=sql.Identifier(source_schema, t)),
                (t, str(seed), per_table)).fetchall()]
            if not keys:
                continue
            names = [c.name for c in cols]
            def fetch(rel: sql.Composable) -> dict:
                q = sql.SQL("select {} from {} as r where r.{}::text = any(%s)").format(
                    sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(n)) for n in names), rel, k)
                return {str(r[names.index(key)]): r for r in conn.execute(q, ([str(x) for x in keys],)).fetchall()}

            legacy = fetch(sql.Identifier(source_schema, t))
            canonical = fetch(sql.Identifier(SPOT_SCHEMA, t))
            for key_value, row in legacy.items():
                other = canonical.get(key_value)
                rows += 1
                if other is None:
                    unexplained += 1
                    bad.add(f"{t} (row not answered)")
                    continue
                for i, name in enumerate(names):
                    fields += 1
                    if other[i] == row[i]:
                        continue
                    if name in allowed.get(t, set()):
                        explained += 1
                    else:
                        unexplained += 1
                        bad.add(f"{t}.{name}")
    result = {"seed": seed, "tables": len(tables), "rows_compared": rows, "fields_compared": fields,
              "explained": explained, "unexplained": unexplained, "unexplained_columns": sorted(bad)}
    if record:
        with conn.transaction():
            conn.execute(
                """insert into compat.spot_checks (seed, tables, rows_compared, fields_compared, explained, unexplained,
                                                   unexplained_columns) values (%s, %s, %s, %s, %s, %s, %s)""",
                (seed, len(tables), rows, fields, explained, unexplained, sorted(bad)))
    return result


def latest(conn: psycopg.Connection) -> dict | None:
    row = conn.execute(
        """select seed, tables, rows_compared, fields_compared, explained, unexplained, unexplained_columns, at
           from compat.spot_checks order by spot_check_id desc limit 1""").fetchone()
    if row is None:
        return None
    return dict(zip(("seed", "tables", "rows_compared", "fields_compared", "explained", "unexplained",
                     "unexplained_columns", "at"), row))
