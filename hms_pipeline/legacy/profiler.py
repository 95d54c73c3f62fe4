"""Profile a legacy HMS schema against the fixture contract, without reading any data values.

For every relation the contract defines (its 43 tables plus ``payment_ledger``, the base of the
``payment_history`` view) the profile says whether it exists as a table or a view, and for those
that exist: row count, columns, null rate per column and, for the contract's keys (pk, unique and
composite unique columns), how many rows duplicate another row's key. Everything is computed in
Postgres, one aggregate query per relation; only counts leave the database (no PHI).

Required columns: a relation that exists must have every column the contract lists for it, except
the ones its note says readers must tolerate being absent (medications' mrp, unit_price, unit,
schedule, stock_quantity; see :attr:`TableBlock.optional_columns`). A missing required column
raises :class:`LegacyProfileError` naming the table and the column.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from hms_pipeline.legacy.contract import PROFILES, Contract
from hms_pipeline.legacy.schema import check_schema_name, contract as vendored_contract

_RELKINDS = {"r": "table", "p": "table", "v": "view", "m": "view", "f": "table"}


class LegacyProfileError(RuntimeError):
    """The legacy schema lacks something the contract requires; the message names it."""


def _relations(conn: psycopg.Connection, schema: str) -> dict[str, str]:
    rows = conn.execute(
        "select c.relname, c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')",
        (schema,),
    ).fetchall()
    return {name: _RELKINDS[kind] for name, kind in rows}


def _columns(conn: psycopg.Connection, schema: str, name: str) -> list[str]:
    rows = conn.execute(
        "select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped order by a.attnum",
        (schema, name),
    ).fetchall()
    return [r[0] for r in rows]


def detect_profile(conn: psycopg.Connection, schema: str, contract: Contract | None = None) -> str:
    """``live`` if any of the contract's live-view-over names is a view in ``schema``, else
    ``blueprint`` (where those names are tables)."""
    contract = contract or vendored_contract()
    relations = _relations(conn, schema)
    views = [t.name for t in contract.tables.values() if t.kind == "live-view-over"]
    return "live" if any(relations.get(v) == "view" for v in views) else "blueprint"


def contract_keys(contract: Contract, name: str) -> list[tuple[str, ...]]:
    """The contract's keys of a relation: pk and unique columns, then composite uniques."""
    keys = [(c.name,) for c in contract.columns_of(name) if c.pk or c.unique]
    return keys + [tuple(u) for u in contract.uniques_of(name)]


def _stats_query(schema: str, name: str, columns: list[str], keys: list[tuple[str, ...]]) -> sql.Composed:
    """One aggregate: row count, non-null count per column, duplicates per key."""
    items = [sql.SQL("count(*)")]
    items += [sql.SQL("count({})").format(sql.Identifier(c)) for c in columns]
    for key in keys:
        ids = [sql.Identifier(c) for c in key]
        if len(ids) == 1:
            items.append(sql.SQL("count({0}) - count(distinct {0})").format(ids[0]))
        else:
            all_set = sql.SQL(" and ").join(sql.SQL("{} is not null").format(i) for i in ids)
            items.append(
                sql.SQL("count(*) filter (where {w}) - count(distinct ({k})) filter (where {w})").format(
                    w=all_set, k=sql.SQL(", ").join(ids)
                )
            )
    return sql.SQL("select {} from {}").format(sql.SQL(", ").join(items), sql.Identifier(schema, name))


def _required_tables(
    contract: Contract, profile_or_required: str | Iterable[str], conn: psycopg.Connection, schema: str
) -> tuple[str | None, dict[str, str]]:
    """(profile name or None, {relation: expected kind}) for the relations that must exist."""
    if isinstance(profile_or_required, str):
        profile = profile_or_required
        if profile == "auto":
            # Only labels the result: a real source may lack relations the fixture has (e.g. the
            # lab tables dropped on 2026-02-15); absence is reported, columns are still enforced.
            return detect_profile(conn, schema, contract), {}
        if profile not in PROFILES:
            raise ValueError(f"unknown legacy profile {profile!r}; expected auto, live or blueprint")
        kinds = {name: contract.relation_kind(name, profile) for name in contract.names}
        return profile, {name: kind for name, kind in kinds.items() if kind != "absent"}
    required = {}
    for name in profile_or_required:
        if name not in contract.names:
            raise ValueError(f"{name!r} is not a legacy contract table")
        required[name] = "table or view"
    return None, required


def profile_legacy(
    conn: psycopg.Connection,
    schema: str = "public",
    profile_or_required: str | Iterable[str] = "auto",
    contract: Contract | None = None,
) -> dict:
    """Profile the legacy relations in ``schema``.

    ``profile_or_required`` is ``live`` or ``blueprint`` (every relation that profile creates must
    exist), ``auto`` (the profile is detected from the catalog, views present => live, and only
    reported: no relation is required), or an iterable of relation names that must exist. A missing
    required relation, or a present relation missing a required column, raises
    :class:`LegacyProfileError`. The result holds only names and numbers.
    """
    check_schema_name(schema)
    contract = contract or vendored_contract()
    profile, required = _required_tables(contract, profile_or_required, conn, schema)
    relations = _relations(conn, schema)

    missing_tables = [name for name in required if name not in relations]
    if missing_tables:
        expected = f"the {profile} profile" if profile else "the caller"
        listed = ", ".join(f"{schema}.{n}" for n in missing_tables)
        raise LegacyProfileError(f"legacy relations required by {expected} are missing: {listed}")

    tables: dict[str, dict] = {}
    for name in contract.names:
        kind = relations.get(name, "absent")
        block = contract.tables.get(name)
        entry: dict = {
            "kind": kind,
            "expected": contract.relation_kind(name, profile) if profile else None,
            "contract_kind": block.kind if block else "base",
            "contract_rows_live": block.rows_live if block else _base_rows(contract, name),
            "rows": None,
            "columns": [],
            "missing_optional_columns": [],
            "extra_columns": [],
            "null_rate": {},
            "duplicate_keys": {},
        }
        tables[name] = entry
        if kind == "absent":
            continue
        present = _columns(conn, schema, name)
        listed = [c.name for c in contract.columns_of(name)]
        optional = set(block.optional_columns) if block else set()
        missing = [c for c in listed if c not in present and c not in optional]
        if missing:
            cols = ", ".join(repr(c) for c in missing)
            plural = "s" if len(missing) > 1 else ""
            raise LegacyProfileError(f"legacy table {schema}.{name} is missing required column{plural} {cols}")
        keys = [k for k in contract_keys(contract, name) if all(c in present for c in k)]
        row = conn.execute(_stats_query(schema, name, present, keys)).fetchone()
        rows = int(row[0])
        nonnull = row[1 : 1 + len(present)]
        dups = row[1 + len(present) :]
        entry.update(
            rows=rows,
            columns=present,
            missing_optional_columns=[c for c in listed if c not in present],
            extra_columns=[c for c in present if c not in listed],
            null_rate={c: (round(1 - n / rows, 4) if rows else 0.0) for c, n in zip(present, nonnull)},
            duplicate_keys={",".join(k): int(d) for k, d in zip(keys, dups)},
        )
    counts = {k: sum(1 for t in tables.values() if t["kind"] == k) for k in ("table", "view", "absent")}
    return {"schema": schema, "profile": profile, "counts": counts, "tables": tables}


def _base_rows(contract: Contract, name: str) -> int | None:
    for block in contract.tables.values():
        if block.base is not None and block.base.name == name:
            return block.base_rows_live
    return None


def summary_markdown(profile: dict) -> str:
    """A markdown table of the profile: table, kind, rows, columns, max null rate, duplicate keys."""
    lines = ["| table | kind | rows | columns | max null rate | duplicate keys |", "|---|---|---:|---:|---:|---:|"]
    for name, t in profile["tables"].items():
        if t["kind"] == "absent":
            lines.append(f"| {name} | absent | – | – | – | – |")
            continue
        max_null = max(t["null_rate"].values(), default=0.0)
        dups = sum(t["duplicate_keys"].values())
        lines.append(f"| {name} | {t['kind']} | {t['rows']} | {len(t['columns'])} | {max_null:.2%} | {dups} |")
    return "\n".join(lines)
