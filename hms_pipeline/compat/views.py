"""The compatibility views: one per legacy table the application uses, with the legacy name, exactly
the legacy columns (names, types, order, as the legacy table has them in the catalog) and the legacy
ids, over the canonical tables and the kept store.

Each view's values come from one file, ``sql/compat/<table>.sql``: a SELECT over canonical tables,
``ops.legacy_id_map`` and ``ops.legacy_kept`` returning a column named like every legacy column (one
row per legacy row LOADED or MERGED whose canonical row is live). This module wraps it:

* columns in the legacy table's order, each cast to its legacy type;
* a column the body does not produce is read from the kept store (drift columns);
* ``union all`` the archived rows the body does not answer for (rows in quarantine, writes the write
  path quarantined, a row loaded into another canonical table but refused by this one), read from
  the archived legacy table until they are resolved, so the application sees every row it saw
  before, once;
* ``security_invoker`` (RLS applies to the caller), the legacy column defaults (an INSERT that omits
  ``id`` gets the legacy default), and the INSTEAD OF trigger ``compat.dispatch`` (the write path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.paths import SQL_DIR
from hms_pipeline.sqlrun import read_sql

COMPAT_DIR = SQL_DIR / "compat"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class CompatError(RuntimeError):
    """A compatibility view cannot be built (names the table and the rule, never a value)."""


@dataclass(frozen=True)
class LegacyColumn:
    name: str
    type: str  # format_type(): the legacy type, typmod included
    default: str | None  # pg_get_expr of the column default, None when it has none
    generated: bool


def body_path(table: str) -> Path:
    return COMPAT_DIR / f"{table}.sql"


def write_path(table: str) -> Path:
    return COMPAT_DIR / f"{table}.write.sql"


_BODY_OF = re.compile(r"^-- body of: ([a-z_][a-z0-9_]*(?:\.write)?)\.sql[ \t]*$", re.M)


def render(path: Path, table: str) -> str:
    """The SQL of ``path`` for legacy ``table``: a file whose line ``-- body of: <other>.sql`` names
    another file is that file (an alias table served by the same rules, e.g. appointments by
    appointment's); ``@table@`` stands for the legacy table's name (validated: letters, digits and
    underscores only, so it is safe both inside a string literal and in a function name)."""
    if not _NAME.match(table):
        raise CompatError(f"compat: invalid legacy table name {table!r}")
    text = read_sql(path)
    m = _BODY_OF.search(text)
    if m:
        text = read_sql(COMPAT_DIR / f"{m.group(1)}.sql")
    return text.replace("@table@", table)


def compat_tables() -> list[str]:
    """Legacy tables with a view body, sorted."""
    return sorted(p.stem for p in COMPAT_DIR.glob("*.sql") if not p.name.endswith(".write.sql"))


def legacy_columns(conn: psycopg.Connection, schema: str, table: str) -> list[LegacyColumn]:
    rows = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid),
                  a.attgenerated <> ''
           from pg_attribute a
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
           where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
           order by a.attnum""", (f"{schema}.{table}",)).fetchall()
    return [LegacyColumn(n, t, None if g else d, g) for n, t, d, g in rows]


def key_column(conn: psycopg.Connection, schema: str, table: str, columns: list[LegacyColumn]) -> str:
    """The legacy key: the single-column primary key, else ``id`` (as staging does)."""
    row = conn.execute(
        """select a.attname from pg_index i
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
           where i.indrelid = to_regclass(%s) and i.indisprimary and i.indnatts = 1""",
        (f"{schema}.{table}",)).fetchone()
    if row:
        return row[0]
    if any(c.name == "id" for c in columns):
        return "id"
    raise CompatError(f"compat {table}: no single-column primary key and no id column to key the view by")


def body_columns(conn: psycopg.Connection, body: str) -> list[str]:
    """The column names the body produces (planned, not run)."""
    with conn.transaction(force_rollback=True):
        cur = conn.execute(sql.SQL("select * from ({}) as b limit 0").format(sql.SQL(body)))  # type: ignore[arg-type]
        return [d.name for d in cur.description]


def kept_value(alias: str, column: LegacyColumn) -> sql.Composable:
    """The expression reading ``column`` back from the kept store row ``alias`` in its legacy type
    (an array from its JSON array, jsonb as is, anything else from its text)."""
    name = sql.Literal(column.name)
    typ = sql.SQL(column.type)  # from format_type() of the catalog: a type name, not input
    a = sql.Identifier(alias)
    if column.type.endswith("[]"):
        return sql.SQL("(select array_agg(x.v order by x.n) from jsonb_array_elements_text("
                       "case jsonb_typeof({a}.attrs -> {name}) when 'array' then {a}.attrs -> {name} end) "
                       "with ordinality as x (v, n))::{typ}").format(a=a, name=name, typ=typ)
    if column.type in ("jsonb", "json"):
        return sql.SQL("({a}.attrs -> {name})::{typ}").format(a=a, name=name, typ=typ)
    return sql.SQL("({a}.attrs ->> {name})::{typ}").format(a=a, name=name, typ=typ)


def view_sql(conn: psycopg.Connection, table: str, *, view_schema: str, archive_schema: str,
             columns: list[LegacyColumn], key: str) -> sql.Composed:
    """``create view`` for ``table`` (the archived legacy table is ``archive_schema.table``)."""
    for name in (table, view_schema, archive_schema):
        if not _NAME.match(name):
            raise CompatError(f"compat {table}: invalid identifier {name!r}")
    body = render(body_path(table), table).strip().rstrip(";")
    produced = set(body_columns(conn, body))
    if key not in produced:
        raise CompatError(f"compat {table}: the body (sql/compat/{table}.sql) does not produce the key column {key}")
    cols = []
    for c in columns:
        ident = sql.Identifier(c.name)
        typ = sql.SQL(c.type)  # from format_type() of the catalog: a type name, not input
        if c.name in produced:
            cols.append(sql.SQL("b.{}::{} as {}").format(ident, typ, ident))
        else:
            cols.append(sql.SQL("(select {value} from ops.legacy_kept as k "
                                "where k.legacy_table = {table} and k.legacy_key = b.{key}::text) as {ident}").format(
                value=kept_value("k", c), table=sql.Literal(table), key=sql.Identifier(key), ident=ident))
    archived = sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c.name)) for c in columns)
    return sql.SQL("""create view {view} with (security_invoker = true) as
with b as not materialized (
{body}
)
select {cols}
from b
union all
select {archived}
from {archive} as a
where not exists (select 1 from b where b.{key}::text = a.{key}::text)""").format(
        view=sql.Identifier(view_schema, table), cols=sql.SQL(",\n       ").join(cols), body=sql.SQL(body),  # type: ignore[arg-type]
        archived=archived, archive=sql.Identifier(archive_schema, table), key=sql.Identifier(key))


def create_view(conn: psycopg.Connection, table: str, *, view_schema: str, archive_schema: str,
                writable: bool = True) -> list[LegacyColumn]:
    """Create the view ``view_schema.table`` over the canonical tables and ``archive_schema.table``,
    with the legacy defaults and the write trigger; returns the legacy columns."""
    columns = legacy_columns(conn, archive_schema, table)
    if not columns:
        raise CompatError(f"compat {table}: {archive_schema}.{table} does not exist")
    key = key_column(conn, archive_schema, table, columns)
    conn.execute(view_sql(conn, table, view_schema=view_schema, archive_schema=archive_schema,
                          columns=columns, key=key))
    view = sql.Identifier(view_schema, table)
    for c in columns:
        if c.default is not None:
            conn.execute(sql.SQL("alter view {} alter column {} set default {}").format(
                view, sql.Identifier(c.name), sql.SQL(c.default)))  # type: ignore[arg-type]  # the catalog's own expression
    if writable:
        if write_path(table).is_file():
            conn.execute(sql.SQL(render(write_path(table), table)))  # type: ignore[arg-type]
        conn.execute(sql.SQL("create trigger compat_write instead of insert or update or delete on {} "
                             "for each row execute function compat.dispatch({}, {})").format(
            view, sql.Literal(archive_schema), sql.Literal(key)))
    return columns
