"""What lineage (``ops.legacy_id_map``) costs next to the canonical write, and its alternatives (#15).

    python bench/bench_lineage.py --url URL [--repeat 2] [--lookups 1000] [--seed 42] [--json]

Runs on an already-backfilled database; reads the canonical tables holding rows and the id-map
partitions, writes copies into the scratch schema ``bench_lineage`` (dropped at the end). Every timed
statement runs in its own transaction (commit included) and is repeated ``--repeat`` times; the
minimum is kept. Sources of the B copies are joined beforehand (untimed), so every option times the
same thing: writing rows it already has. Prints:

* floor: ``INSERT ... SELECT`` of every canonical table's rows into same-shaped indexed copies
  (``create table ... (like ... including indexes)``), seconds;
* A (today): the floor plus the id-map rows into indexed copies of their id-map partition (unique
  (legacy_table, legacy_key, canonical_table) and (canonical_table, canonical_id)); seconds of the
  lineage part and its ratio to the floor;
* A-noidx: A without the (canonical_table, canonical_id) index;
* C: A's map rows without the canonical_id column (unique index only; the id is
  ``etl.canonical_id(...)`` for LOADED rows), and how many LOADED rows hold a different id;
* B: the canonical copies with legacy_table, legacy_key, run_id (one LOADED map row per canonical
  row) and a unique index on (legacy_table, legacy_key), plus one side table for the other map
  rows (MERGED, a second LOADED key of one canonical row, rows of tables without a one-column key);
  seconds, and the extra over the floor as a ratio to it;
* lookups, B (a view over the B copies with ``ops.legacy_id_map``'s columns; mapped_at = the
  canonical row's created_at) against ``ops.legacy_id_map``: (a) (legacy_table, legacy_key) ->
  canonical_id and (b) canonical_id -> (legacy_table, legacy_key) for N random rows of the table
  with the most map rows, one autocommit query each; seconds and whether the answers agree;
* disk: ``pg_total_relation_size`` of each option's lineage part (B: its copies minus the floor's
  plus the side table) and of today's map.
With ``--json`` the last line is one JSON object of every figure. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCRATCH = "bench_lineage"
CANONICAL_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ref")
MAP_COLUMNS = ("legacy_table", "legacy_key", "canonical_table", "canonical_id", "disposition", "run_id",
               "mapped_at")


@dataclass
class Table:
    schema: str
    name: str
    pk: str | None          # one-column primary key (the map's canonical_id), else None
    part: str | None        # its id-map partition in etl, when it has map rows
    has_created_at: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def copy(self, option: str) -> sql.Identifier:
        return sql.Identifier(SCRATCH, f"{option}__{self.schema}__{self.name}")


def q(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def one(conn, statement, params=None):
    """The first column of the first row of ``statement``."""
    return conn.execute(statement, params).fetchone()[0]


def count(conn, table: sql.Identifier) -> int:
    return one(conn, sql.SQL("select count(*) from {}").format(table))


def has_rows(conn, table: sql.Identifier) -> bool:
    return one(conn, sql.SQL("select exists (select 1 from {})").format(table))


# --- discovery -----------------------------------------------------------------------------------

def canonical_tables(conn) -> list[Table]:
    """The canonical base tables holding rows, with their one-column key and id-map partition."""
    rows = conn.execute(
        """select n.nspname, c.relname,
                  (select a.attname from pg_index i
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                    where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1),
                  exists (select 1 from pg_attribute a where a.attrelid = c.oid
                          and a.attname = 'created_at' and not a.attisdropped)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind = 'r' and n.nspname = any(%s) order by 1, 2""",
        (list(CANONICAL_SCHEMAS),)).fetchall()
    tables = []
    for schema, name, pk, has_created_at in rows:
        if not has_rows(conn, q(schema, name)):
            continue
        part = f"id_map_{schema}__{name}"
        mapped = (one(conn, "select to_regclass(%s) is not null", (f"etl.{part}",))
                  and has_rows(conn, q("etl", part)))
        tables.append(Table(schema, name, pk, part if mapped else None, has_created_at))
    return tables


def unpartitioned_map_rows(conn) -> int:
    """Map rows in the default partition (not covered by the per-table copies)."""
    return one(conn, "select count(*) from etl.id_map_default")


# --- timing --------------------------------------------------------------------------------------

def timed(conn, statement: sql.Composable, params=None) -> tuple[float, int]:
    """Seconds of one statement in its own transaction, commit included; and its row count."""
    started = time.perf_counter()
    with conn.transaction():
        n = conn.execute(statement, params).rowcount
    return time.perf_counter() - started, n


def build(conn, target: sql.Identifier, create: list[sql.Composable], insert: sql.Composable,
          repeat: int) -> tuple[float, int]:
    """(Re)create ``target`` with ``create`` and fill it with ``insert`` ``repeat`` times; the
    fastest fill (seconds) and its rows. The last copy stays."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        with conn.transaction():
            conn.execute(sql.SQL("drop table if exists {}").format(target))
            for statement in create:
                conn.execute(statement)
        seconds, rows = timed(conn, insert)
        best = min(best, seconds)
    return best, rows


def size(conn, targets: list[sql.Identifier]) -> int:
    """pg_total_relation_size of ``targets`` (tables with their indexes and toast), bytes."""
    total = 0
    for t in targets:
        total += one(conn, "select pg_total_relation_size(%s::regclass)", (t.as_string(conn),))
    return total


def drop(conn, targets: list[sql.Identifier]) -> None:
    with conn.transaction():
        for t in targets:
            conn.execute(sql.SQL("drop table if exists {}").format(t))


# --- the options ---------------------------------------------------------------------------------

def copy_like(conn, tables: list[Table], option: str, repeat: int) -> dict[str, float]:
    """The floor: every canonical table into an indexed copy. Seconds per table."""
    out = {}
    for t in tables:
        target = t.copy(option)
        create = [sql.SQL("create table {} (like {} including indexes)").format(target, t.ident)]
        insert = sql.SQL("insert into {} select * from {}").format(target, t.ident)
        out[t.qualified], _ = build(conn, target, create, insert, repeat)
    return out


def map_copy(conn, t: Table, option: str, repeat: int) -> tuple[sql.Identifier, float, int]:
    """One id-map partition into a copy shaped for ``option``: A (both indexes), A-noidx (unique
    only), C (no canonical_id column, unique only)."""
    src = q("etl", t.part)
    target = sql.Identifier(SCRATCH, f"{option}__{t.part}")
    unique = sql.SQL("create unique index on {} (legacy_table, legacy_key, canonical_table)").format(target)
    if option == "a":
        create = [sql.SQL("create table {} (like {} including indexes)").format(target, src)]
        insert = sql.SQL("insert into {} select * from {}").format(target, src)
    elif option == "a_noidx":
        create = [sql.SQL("create table {} (like {} including defaults)").format(target, src), unique]
        insert = sql.SQL("insert into {} select * from {}").format(target, src)
    else:
        cols = sql.SQL(", ").join(q(c) for c in MAP_COLUMNS if c != "canonical_id")
        create = [sql.SQL("""create table {} (legacy_table text not null, legacy_key text not null,
                             canonical_table text not null, disposition text not null,
                             run_id text not null, mapped_at timestamptz not null)""").format(target), unique]
        insert = sql.SQL("insert into {} ({}) select {} from {}").format(target, cols, cols, src)
    seconds, rows = build(conn, target, create, insert, repeat)
    return target, seconds, rows


def map_option(conn, tables: list[Table], option: str, repeat: int) -> dict:
    """Every id-map partition copied for ``option``: seconds, rows and size of the lineage part."""
    targets, seconds, rows = [], 0.0, 0
    for t in tables:
        if t.part:
            target, s, n = map_copy(conn, t, option, repeat)
            targets.append(target)
            seconds += s
            rows += n
    figures = {"seconds": seconds, "rows": rows, "bytes": size(conn, targets)}
    drop(conn, targets)
    return figures


def b_sources(conn, tables: list[Table]) -> list[Table]:
    """Untimed: per mapped table with a one-column key, ``src_b__`` = its rows (in their physical
    order, as the floor reads them: index inserts cost differs with order) plus legacy_table,
    legacy_key, run_id of one LOADED map row (the one whose key gives the row's id, if any); and
    ``src_b_side`` = every other map row. Returns the tables B carries lineage on."""
    b_tables = [t for t in tables if t.part and t.pk]
    side = q(SCRATCH, "src_b_side")
    with conn.transaction():
        conn.execute(sql.SQL("create table {} (like ops.legacy_id_map)").format(side))
        for t in tables:
            if not t.part:
                continue
            src = t.copy("src_b")
            part = q("etl", t.part)
            if t.pk:
                conn.execute(sql.SQL(
                    """create table {src} as
                       select t.*, m.legacy_table, m.legacy_key, m.run_id
                       from {tbl} t left join (
                           select distinct on (canonical_id) canonical_id, legacy_table, legacy_key, run_id
                           from {part} where disposition = 'LOADED'
                           order by canonical_id,
                                    canonical_id = etl.canonical_id(canonical_table, legacy_table,
                                                                    legacy_key) desc,
                                    legacy_table, legacy_key) m on m.canonical_id = t.{pk}
                       order by t.ctid""").format(
                    src=src, tbl=t.ident, part=part, pk=q(t.pk)))
                conn.execute(sql.SQL(
                    """insert into {side} select m.* from {part} m
                       where not exists (select 1 from {src} s where s.legacy_table = m.legacy_table
                                                                  and s.legacy_key = m.legacy_key)""").format(
                    side=side, part=part, src=src))
            else:
                conn.execute(sql.SQL("insert into {} select * from {}").format(side, part))
    return b_tables


def b_option(conn, tables: list[Table], b_tables: list[Table], repeat: int) -> dict:
    """B: the mapped tables' copies with the three lineage columns and their unique index, plus the
    side table. Seconds per canonical table, side seconds and rows."""
    per_table = {}
    for t in b_tables:
        target = t.copy("b")
        create = [sql.SQL("create table {} (like {} including indexes)").format(target, t.ident),
                  sql.SQL("alter table {} add column legacy_table text, add column legacy_key text, "
                          "add column run_id text").format(target),
                  sql.SQL("create unique index on {} (legacy_table, legacy_key)").format(target)]
        insert = sql.SQL("insert into {} select * from {}").format(target, t.copy("src_b"))
        per_table[t.qualified], _ = build(conn, target, create, insert, repeat)
    side = q(SCRATCH, "b_side")
    create = [sql.SQL("create table {} (like ops.legacy_id_map including defaults)").format(side),
              sql.SQL("create unique index on {} (legacy_table, legacy_key, canonical_table)").format(side),
              sql.SQL("create index on {} (canonical_table, canonical_id)").format(side)]
    side_s, side_rows = build(conn, side, create, sql.SQL("insert into {} select * from {}").format(
        side, q(SCRATCH, "src_b_side")), repeat)
    drop(conn, [t.copy("src_b") for t in b_tables] + [q(SCRATCH, "src_b_side")])
    return {"per_table": per_table, "side_seconds": side_s, "side_rows": side_rows}


def b_view(conn, b_tables: list[Table]) -> sql.Identifier:
    """A view over the B copies and the side table with exactly ops.legacy_id_map's columns."""
    view = q(SCRATCH, "b_id_map")
    branches = [sql.SQL(
        """select legacy_table, legacy_key, {name}::text as canonical_table, {pk} as canonical_id,
                  'LOADED'::text as disposition, run_id, {at} as mapped_at
           from {copy} where legacy_key is not null""").format(
        name=sql.Literal(t.qualified), pk=q(t.pk), copy=t.copy("b"),
        at=sql.SQL("created_at") if t.has_created_at else sql.SQL("null::timestamptz")) for t in b_tables]
    branches.append(sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(q(c) for c in MAP_COLUMNS), q(SCRATCH, "b_side")))
    with conn.transaction():
        conn.execute(sql.SQL("create view {} as {}").format(view, sql.SQL(" union all ").join(branches)))
        for t in b_tables:
            conn.execute(sql.SQL("analyze {}").format(t.copy("b")))
        conn.execute(sql.SQL("analyze {}").format(q(SCRATCH, "b_side")))
    return view


# --- lookups -------------------------------------------------------------------------------------

def lookup_sample(conn, t: Table, n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` random LOADED map rows of ``t``: (legacy_table, legacy_key, canonical_id)."""
    rows = conn.execute(sql.SQL("select legacy_table, legacy_key, canonical_id::text from {} "
                                "where disposition = 'LOADED' order by 1, 2")
                        .format(q("etl", t.part))).fetchall()
    return random.Random(seed).sample(rows, min(n, len(rows)))


def run_lookups(url: str, relation: sql.Composable, table: str, keys, repeat: int) -> dict:
    """(a) legacy key -> canonical id and (b) canonical id -> legacy key, one autocommit query per
    key on ``relation``; fastest of ``repeat`` passes, and the answers (to compare)."""
    by_key = sql.SQL("select canonical_id::text from {} where legacy_table = %s and legacy_key = %s "
                     "and canonical_table = %s").format(relation)
    by_id = sql.SQL("select legacy_table, legacy_key from {} where canonical_table = %s "
                    "and canonical_id = %s::uuid order by 1, 2").format(relation)
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for label, statement, args in (("a", by_key, lambda k: (k[0], k[1], table)),
                                       ("b", by_id, lambda k: (table, k[2]))):
            best, answers = float("inf"), []
            for _ in range(repeat):
                started = time.perf_counter()
                answers = [conn.execute(statement, args(k)).fetchall() for k in keys]
                best = min(best, time.perf_counter() - started)
            out[label] = {"seconds": best, "answers": answers}
    return out


def one_table_map(t: Table) -> sql.Composed:
    """What code knowing the canonical table would query under B: its copy and the side table."""
    return sql.SQL(
        """(select legacy_table, legacy_key, {name}::text as canonical_table, {pk} as canonical_id
            from {copy} where legacy_key is not null
            union all
            select legacy_table, legacy_key, canonical_table, canonical_id from {side}) as m""").format(
        name=sql.Literal(t.qualified), pk=q(t.pk), copy=t.copy("b"), side=q(SCRATCH, "b_side"))


def lookups(url: str, conn, view: sql.Identifier, tables: list[Table], n: int, seed: int,
            repeat: int) -> dict:
    """Both lookups on today's map, on the B view and on B's one-table union, for the mapped table
    with the most map rows."""
    big = max((t for t in tables if t.part and t.pk), key=lambda t: count(conn, q("etl", t.part)))
    keys = lookup_sample(conn, big, n, seed)
    runs = {who: run_lookups(url, relation, big.qualified, keys, repeat)
            for who, relation in (("today", q("ops", "legacy_id_map")), ("b", view),
                                  ("b_one_table", one_table_map(big)))}
    out: dict = {"table": big.qualified, "keys": len(keys)}
    for who, res in runs.items():
        for label in ("a", "b"):
            out[f"{label}_{who}_seconds"] = res[label]["seconds"]
            if who != "today":
                out[f"{label}_{who}_same_answers"] = res[label]["answers"] == runs["today"][label]["answers"]
    return out


# --- report --------------------------------------------------------------------------------------

def mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def map_facts(conn) -> dict:
    """Today's map: rows by disposition, LOADED rows whose id is not etl.canonical_id(...), size."""
    counts = dict(conn.execute("select disposition, count(*) from ops.legacy_id_map group by 1").fetchall())
    foreign = one(conn, """select count(*) from ops.legacy_id_map where disposition = 'LOADED'
                           and canonical_id <> etl.canonical_id(canonical_table, legacy_table, legacy_key)""")
    size_ = one(conn, """select coalesce(sum(pg_total_relation_size(relid)), 0)
                         from pg_partition_tree('ops.legacy_id_map') where isleaf""")
    return {"loaded": counts.get("LOADED", 0), "merged": counts.get("MERGED", 0),
            "loaded_not_deterministic": foreign, "bytes": int(size_)}


def measure(url: str, repeat: int, n_lookups: int, seed: int) -> dict:
    f: dict = {"repeat": repeat}
    with psycopg.connect(url, autocommit=True) as conn:  # each conn.transaction() is a real one
        conn.execute("set max_parallel_workers_per_gather = 0")  # shared machine: stay on one core
        with conn.transaction():
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(q(SCRATCH)))
            conn.execute(sql.SQL("create schema {}").format(q(SCRATCH)))
        try:
            tables = canonical_tables(conn)
            f["map"] = map_facts(conn)
            f["map"]["default_partition_rows"] = unpartitioned_map_rows(conn)
            f["canonical_rows"] = sum(count(conn, t.ident) for t in tables)
            f["tables"], f["mapped_tables"] = len(tables), sum(1 for t in tables if t.part)

            floor = copy_like(conn, tables, "floor", repeat)
            f["floor_seconds"] = sum(floor.values())
            floor_bytes = {t.qualified: size(conn, [t.copy("floor")]) for t in tables}
            f["floor_bytes"] = sum(floor_bytes.values())
            drop(conn, [t.copy("floor") for t in tables])

            for option in ("a", "a_noidx", "c"):
                f[option] = map_option(conn, tables, option, repeat)
                f[option]["ratio"] = f[option]["seconds"] / f["floor_seconds"]

            b_tables = b_sources(conn, tables)
            b = b_option(conn, tables, b_tables, repeat)
            b_bytes = size(conn, [t.copy("b") for t in b_tables])
            side_bytes = size(conn, [q(SCRATCH, "b_side")])
            extra = (sum(b["per_table"].values()) + b["side_seconds"]
                     - sum(floor[t.qualified] for t in b_tables))
            f["b"] = {"seconds": f["floor_seconds"] + extra, "extra_seconds": extra,
                      "ratio": extra / f["floor_seconds"], "tables": len(b_tables),
                      "side_rows": b["side_rows"], "side_seconds": b["side_seconds"],
                      "bytes": b_bytes - sum(floor_bytes[t.qualified] for t in b_tables) + side_bytes,
                      "side_bytes": side_bytes}
            f["lookups"] = lookups(url, conn, b_view(conn, b_tables), tables, n_lookups, seed, repeat)
        finally:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(q(SCRATCH)))
    return f


def report(f: dict) -> None:
    m, fl = f["map"], f["floor_seconds"]
    print(f"canonical: {f['canonical_rows']:,} rows in {f['tables']} tables "
          f"({f['mapped_tables']} with map rows); "
          f"ops.legacy_id_map: {m['loaded']:,} LOADED + {m['merged']:,} MERGED rows, {mb(m['bytes'])} "
          f"({m['default_partition_rows']:,} in the default partition, not copied)")
    print(f"LOADED rows whose canonical_id is not etl.canonical_id(...): {m['loaded_not_deterministic']:,}")
    print(f"timings: fastest of {f['repeat']}, each INSERT ... SELECT in its own transaction")
    print(f"{'option':58s} {'seconds':>8} {'lineage s':>10} {'ratio':>7} {'lineage disk':>13}")
    print(f"{'floor: canonical rows into indexed copies':58s} {fl:>8.2f} {'':>10} {'':>7} "
          f"{mb(f['floor_bytes']):>13}")
    rows = (("A  today: + map rows, both indexes", f["a"]),
            ("A' today without (canonical_table, canonical_id) index", f["a_noidx"]),
            ("C  map rows without canonical_id (unique index only)", f["c"]))
    for label, o in rows:
        print(f"{label:58s} {fl + o['seconds']:>8.2f} {o['seconds']:>10.2f} {o['ratio']:>7.2f} "
              f"{mb(o['bytes']):>13}")
    b = f["b"]
    print(f"{'B  legacy key + run_id on the row, unique index, side table':58s} {b['seconds']:>8.2f} "
          f"{b['extra_seconds']:>10.2f} {b['ratio']:>7.2f} {mb(b['bytes']):>13}")
    print(f"   B carries lineage on {b['tables']} tables (one-column key); side table: "
          f"{b['side_rows']:,} rows (MERGED + other), {b['side_seconds']:.2f}s, "
          f"{mb(b['side_bytes'])}")
    lk = f["lookups"]
    print(f"lookups, {lk['keys']:,} random keys of {lk['table']}, one autocommit query each:")
    print(f"{'':4s}{'lookup':44s} {'map s':>8} {'B view s':>9} {'B/map':>6} {'B 1-table s':>12} "
          f"{'B1/map':>7}  same answers")
    for label, text in (("a", "(legacy_table, legacy_key) -> canonical_id"),
                        ("b", "canonical_id -> legacy key")):
        t, v, d = (lk[f"{label}_{who}_seconds"] for who in ("today", "b", "b_one_table"))
        same = lk[f"{label}_b_same_answers"] and lk[f"{label}_b_one_table_same_answers"]
        print(f"{'':4s}({label}) {text:40s} {t:>8.3f} {v:>9.3f} {v / t:>6.2f} {d:>12.3f} "
              f"{d / t:>7.2f}  {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("HMS_BENCH_DATABASE_URL"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true",
                    help="also print every figure as one JSON object (last line)")
    args = ap.parse_args()
    if not args.url:
        from hms_pipeline.db import canonical_url
        from hms_pipeline.settings import load_settings

        args.url = canonical_url(load_settings())
    figures = measure(args.url, args.repeat, args.lookups, args.seed)
    report(figures)
    if args.json:
        print(json.dumps(figures, default=float))


if __name__ == "__main__":
    main()
