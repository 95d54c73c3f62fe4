"""Constraint pre-flight: refuse, before the write, the candidate rows the database would refuse.

Runs after the disposition step (it checks the rows that will be written: the LOADED row of each
canonical id in ``_ok``) and before the quarantine step. Everything is read from the catalog of the
target table, never from a hand-kept list, and checked set-based:

==================  ==================================================================================
reason code         check
==================  ==================================================================================
NULL_VIOLATION      a NOT NULL column (``attnotnull``) the candidates provide is NULL
UNPARSEABLE_VALUE   a value the implicit cast to the column's declared type would refuse: longer than
                    ``varchar(n)``/``char(n)``, or beyond the digits of ``numeric(p,s)`` (after rounding)
CHECK_VIOLATION     a CHECK constraint's own expression (``pg_get_expr(conbin)``) is FALSE (NULL
                    passes, as in Postgres). Generated columns are computed from their generation
                    expression first, so a CHECK or a typmod on them is checked too
ORPHAN_FK           a foreign key whose columns are set has no parent row, or only a soft-deleted one
                    (the parent must be live; of an append-only table, only exist); a self-reference
                    may find its parent in the same write
DUPLICATE_KEY       a UNIQUE constraint or unique index (partial: its predicate; expression: its
                    expressions; NULLs never conflict unless NULLS NOT DISTINCT) is violated among the
                    rows written, or by a row already in the target (live or soft-deleted: the index
                    holds both)
SUITE_RULE          a row-level ERROR expectation of the table's GX suite (``row_rules``, see
                    :func:`hms_pipeline.quality.suites.preflight_rules`) fails
==================  ==================================================================================

Order: the one-row checks (NOT NULL, types, CHECK, suite rules) and the foreign keys first, then the
unique indexes one at a time over the rows still to be written, so a survivor of a duplicate is a row
that passes everything else.

**Survivor rule** for a duplicate key: a row already physically in the target holding the value
(another primary key, live or soft-deleted) keeps it, and every row of this write with that value is
refused; that includes a target row this same write moves to another value, so no single statement
ever depends on the order in which it updates rows (the refused row is retried, and loads, on the
next run that writes anything). Otherwise the earliest row survives: the lowest ``created_at`` when
the write sets it (NULL last), so the first registration keeps a UHID a later one repeats; ties, and
tables without it, by the lowest (legacy table, legacy key).
Refused rows name their survivor in ``detail.survivor`` (legacy table and key; the canonical id of a
target row). Rows with the same *primary key* are not duplicates: they are the transform's
deliberate merges (the disposition step keeps one LOADED row per id), and the transform has the last
word on those.

**Merged rows** of a refused survivor (same canonical id, MERGED) are refused with it: same reason,
same detail plus ``detail.survivor_quarantined`` (the survivor's legacy table and key). They are not
promoted: a MERGED row is a duplicate of the survivor, not the row chosen to be written; the next run
retries them together.

Refused rows join the transform's own quarantined rows in ``_cand`` and take the same path on to
``ops.quarantine`` (one entry per legacy key and reason; ``detail`` names the constraint, rule,
column or expectation, never a value). They are neither written nor mapped, and reconciliation counts
them as quarantined.

Not checked (the write fails then, as a :class:`~hms_pipeline.engine.errors.TransformError` without
values): exclusion constraints; a CHECK, unique index or foreign key on columns the candidates do not
provide (the insert takes the default, an update keeps the stored value); two rows of a table whose
spec says ``merges=False`` with one primary key (a transform bug); triggers. A CHECK whose own
evaluation raises an error (a division by zero) fails the step, naming the constraint's SQLSTATE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from hms_pipeline.engine.steps import PIPELINE_ACTOR, Target, engine_query, engine_sql

NULL_VIOLATION = "NULL_VIOLATION"
UNPARSEABLE_VALUE = "UNPARSEABLE_VALUE"
OUT_OF_RANGE = "OUT_OF_RANGE"
CHECK_VIOLATION = "CHECK_VIOLATION"
ORPHAN_FK = "ORPHAN_FK"
DUPLICATE_KEY = "DUPLICATE_KEY"
SUITE_RULE = "SUITE_RULE"

_VARCHAR, _BPCHAR, _NUMERIC = 1043, 1042, 1700
_NUMBER_TYPES = {20: 19, 21: 5, 23: 10, 700: None, 701: None, 1700: None}  # int8/2/4: digits at most
_UUID = 2950


@dataclass(frozen=True)
class Column:
    name: str
    not_null: bool
    generated: bool
    generation: str | None
    generation_uses: tuple[str, ...]
    type_oid: int
    typmod: int
    type_name: str
    not_null_name: str | None


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    parent_schema: str
    parent_table: str
    parent_columns: tuple[str, ...]
    match_full: bool
    parent_soft_deletes: bool

    @property
    def parent(self) -> str:
        return f"{self.parent_schema}.{self.parent_table}"


@dataclass(frozen=True)
class UniqueIndex:
    name: str
    keys: tuple[str, ...]
    collations: tuple[str | None, ...]
    predicate: str | None
    nulls_not_distinct: bool
    uses: tuple[str, ...]


@dataclass
class Catalog:
    columns: dict[str, Column]
    checks: list[Check]
    foreign_keys: list[ForeignKey]
    uniques: list[UniqueIndex]


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``predicate`` is a SQL boolean over the row's columns that is TRUE when the
    row violates it; ``columns`` (when known) are those it reads: a rule reading a column the
    candidates lack is not applicable."""

    name: str
    predicate: sql.Composable
    columns: frozenset[str] | None = None


@dataclass
class PreflightResult:
    quarantined: dict[str, int] = field(default_factory=dict)  # reason code -> legacy rows refused
    rule_errors: list[str] = field(default_factory=list)  # suite rules that could not be evaluated
    seconds: float = 0.0

    def add(self, counts: dict[str, int]) -> None:
        for reason, n in counts.items():
            self.quarantined[reason] = self.quarantined.get(reason, 0) + n


def read_catalog(conn: psycopg.Connection, table: str) -> Catalog:
    """The target's columns, CHECK and FOREIGN KEY constraints and unique indexes, from the catalog."""
    columns = {r[0]: Column(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6], r[7], r[8])
               for r in conn.execute(engine_sql("preflight_columns"), {"t": table}).fetchall()}
    checks, fks = [], []
    for name, kind, expression, cols, pschema, ptable, pcols, match, soft in conn.execute(
            engine_sql("preflight_constraints"), {"t": table}).fetchall():
        if kind == "c":
            checks.append(Check(name, expression, tuple(cols)))
        else:
            fks.append(ForeignKey(name, tuple(cols), pschema, ptable, tuple(pcols), match == "f", soft))
    nnd = sql.SQL("i.indnullsnotdistinct" if conn.info.server_version >= 150000 else "false")
    uniques = [UniqueIndex(r[0], tuple(r[1]), tuple(r[2]), r[3], r[4], tuple(r[5]))
               for r in conn.execute(engine_query("preflight_indexes", nnd=nnd), {"t": table}).fetchall()]
    return Catalog(columns, checks, fks, uniques)


def as_row_rules(rules: Iterable[Any]) -> list[RowRule]:
    """Row rules from (name, predicate) or (name, predicate, columns) tuples, or objects with
    ``name``/``predicate``[/``columns``]; a predicate may be SQL text or a psycopg composable."""
    out = []
    for rule in rules or ():
        if isinstance(rule, RowRule):
            out.append(rule)
            continue
        if isinstance(rule, tuple):
            name, predicate, *rest = rule
            columns = rest[0] if rest else None
        else:
            name, predicate, columns = rule.name, rule.predicate, getattr(rule, "columns", None)
        if isinstance(predicate, str):
            predicate = sql.SQL(predicate)
        out.append(RowRule(str(name), predicate, frozenset(columns) if columns is not None else None))
    return out


def _detail(**items: Any) -> sql.Composable:
    return sql.SQL("{}::jsonb").format(sql.Literal(json.dumps(items, sort_keys=True)))


def _numeric_typmod(typmod: int) -> tuple[int, int]:
    """(precision, scale) of a numeric typmod (the scale may be negative from PG 15 on)."""
    raw = typmod - 4
    return (raw >> 16) & 0xFFFF, ((raw & 0x7FF) ^ 1024) - 1024


class _Rows:
    """The rows to be written as the target will hold them (``sql/engine/preflight_rows.sql``) and
    the columns they carry."""

    def __init__(self, t: Target, cat: Catalog, actor: str):
        ident = sql.Identifier
        cols: list[sql.Composable] = [sql.SQL("w.{}").format(ident(c)) for c in t.data_cols]
        self.provided = set(t.data_cols)
        self.engine: set[str] = set()
        if t.audited:
            for c in ("created_by", "updated_by"):
                if c in cat.columns:
                    cols.append(sql.SQL("cast({} as {}) as {}").format(
                        sql.Literal(actor), sql.SQL(cat.columns[c].type_name), ident(c)))
                    self.engine.add(c)
            cols.append(sql.SQL("cast(null as {}) as deleted_at").format(sql.SQL(cat.columns["deleted_at"].type_name)))
            self.engine.add("deleted_at")
        base = self.provided | self.engine
        self.generated = [c for c in cat.columns.values()
                          if c.generated and c.generation and set(c.generation_uses) <= base]
        self.available = base | {c.name for c in self.generated}
        generated = sql.SQL("").join(
            sql.SQL(", ({}) as {}").format(sql.SQL(c.generation), ident(c.name)) for c in self.generated)
        self.sql = engine_query("preflight_rows", columns=sql.SQL(", ").join(cols), generated=generated)


def _type_check(col: Column, cand: tuple[int, int] | None) -> sql.Composable | None:
    """The test that a value of ``col`` would fail the cast to its declared type, or None."""
    c = sql.Identifier(col.name)
    if cand is not None and cand == (col.type_oid, col.typmod):
        return None
    if col.type_oid in (_VARCHAR, _BPCHAR) and col.typmod >= 4:
        n = col.typmod - 4
        text = sql.SQL("cast({} as text)").format(c)
        # the cast refuses a longer value unless what is cut is only spaces
        return sql.SQL("char_length({v}) > {n} and rtrim(substr({v}, {n1}), ' ') <> ''").format(
            v=text, n=sql.Literal(n), n1=sql.Literal(n + 1))
    if col.type_oid == _NUMERIC and col.typmod >= 4:
        if cand is not None and cand[0] not in _NUMBER_TYPES:
            return None  # not a number: the insert would not even plan (a transform bug)
        precision, scale = _numeric_typmod(col.typmod)
        digits = _NUMBER_TYPES.get(cand[0]) if cand is not None else None
        if digits is not None and digits <= precision - scale:
            return None  # an integer type that cannot overflow
        v = sql.SQL("cast({} as numeric)").format(c)
        limit = Decimal(10) ** (precision - scale)
        return sql.SQL("{v} <> 'NaN' and abs(round({v}, {s})) >= {limit}").format(
            v=v, s=sql.Literal(scale), limit=sql.Literal(limit))
    return None


def _one_row_checks(t: Target, cat: Catalog, rows: _Rows, cand_types: dict[str, tuple[int, int]],
                    rules: list[RowRule]) -> tuple[list[tuple[sql.Composable, str, sql.Composable]], list]:
    """(constraint checks, rule checks): each check is (violated test, reason, detail); each rule
    check is (rule name, check)."""
    checks: list[tuple[sql.Composable, str, sql.Composable]] = []
    writable = rows.provided | {c.name for c in rows.generated}
    for col in cat.columns.values():
        if col.name not in writable:
            continue
        if col.not_null:
            name = col.not_null_name or f"{t.name.split('.')[1]}_{col.name}_not_null"
            checks.append((sql.SQL("{} is null").format(sql.Identifier(col.name)), NULL_VIOLATION,
                           _detail(constraint=name, rule="NOT NULL", column=col.name)))
        test = _type_check(col, None if col.generated else cand_types.get(col.name))
        if test is not None:
            checks.append((test, UNPARSEABLE_VALUE, _detail(constraint=col.type_name, rule="TYPE", column=col.name)))
    for ck in cat.checks:
        if set(ck.columns) <= rows.available:
            checks.append((sql.SQL("({}) is false").format(sql.SQL(ck.expression)), CHECK_VIOLATION,
                           _detail(constraint=ck.name, rule="CHECK")))
    rule_checks = []
    for rule in rules:
        if rule.columns is not None and not rule.columns <= rows.available:
            continue  # reads a column this write does not set
        rule_checks.append((rule.name, (sql.SQL("({}) is true").format(rule.predicate), SUITE_RULE,
                                        _detail(expectation=rule.name))))
    return checks, rule_checks


def _run_row_checks(conn: psycopg.Connection, t: Target, rows: _Rows,
                    checks: list[tuple[sql.Composable, str, sql.Composable]]) -> int:
    if not checks:
        return 0
    hits = sql.SQL(", ").join(sql.SQL("case when {} then {} end").format(test, sql.Literal(i))
                              for i, (test, _, _) in enumerate(checks))
    any_ = sql.SQL(" or ").join(sql.SQL("({})").format(test) for test, _, _ in checks)
    descriptors = sql.SQL(", ").join(sql.SQL("({}, {}, {})").format(sql.Literal(i), sql.Literal(reason), detail)
                                     for i, (_, reason, detail) in enumerate(checks))
    statement = engine_query("preflight_row_checks", pk=sql.Identifier(t.pk), hits=hits, any=any_,
                             descriptors=descriptors, rows=rows.sql)
    # no bound parameters: the catalog's expressions may hold a literal '%'
    return conn.execute(statement).rowcount


# A btree index entry must fit in a third of a page (2704 bytes); a longer key value (a 1 MB name
# from a damaged legacy row) makes the insert fail. Values are compressed first, so the limit only
# bites on long incompressible text: keys over INDEX_KEY_BYTES are refused before the write.
INDEX_KEY_BYTES = 2000


def _index_key_size_checks(conn: psycopg.Connection, t: Target, rows: _Rows) -> list:
    """OUT_OF_RANGE for a text value too long to be a btree index key of the target."""
    columns = [r[0] for r in conn.execute(
        """select distinct a.attname::text from pg_index i
           join pg_class ic on ic.oid = i.indexrelid
           join pg_am am on am.oid = ic.relam and am.amname = 'btree'
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey::int2[]) and a.attnum > 0
           where i.indrelid = %s::regclass
             and a.atttypid in ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
           order by 1""", (t.name,)).fetchall()]
    return [(sql.SQL("octet_length(cast({} as text)) > {}").format(sql.Identifier(c), sql.Literal(INDEX_KEY_BYTES)),
             OUT_OF_RANGE, _detail(rule="INDEX_KEY_SIZE", column=c))
            for c in columns if c in rows.available]


def one_row_checks(conn: psycopg.Connection, t: Target, cat: Catalog, rows: _Rows, rules: list[RowRule],
                   result: PreflightResult) -> int:
    """NOT NULL, types, CHECK and the suite's row rules, in one scan of the rows to be written. A rule
    that cannot be evaluated (a suite typo) is left out and named in ``result.rule_errors``; the
    constraints are checked all the same."""
    cand_types = {r[0]: (r[1], r[2]) for r in conn.execute(
        """select attname::text, atttypid::oid::bigint, atttypmod from pg_attribute
           where attrelid = '_cand'::regclass and attnum > 0 and not attisdropped""").fetchall()}
    checks, rule_checks = _one_row_checks(t, cat, rows, cand_types, rules)
    checks += _index_key_size_checks(conn, t, rows)
    if not rule_checks:
        return _run_row_checks(conn, t, rows, checks)
    try:
        with conn.transaction():
            return _run_row_checks(conn, t, rows, checks + [check for _, check in rule_checks])
    except psycopg.Error:
        pass  # find the rule that cannot be evaluated: constraints alone, then each rule alone
    n = _run_row_checks(conn, t, rows, checks)
    for name, check in rule_checks:
        try:
            with conn.transaction():
                n += _run_row_checks(conn, t, rows, [check])
        except psycopg.Error:
            result.rule_errors.append(name)
    return n


def foreign_keys(conn: psycopg.Connection, t: Target, cat: Catalog) -> int:
    """ORPHAN_FK: each outgoing foreign key (``sql/engine/preflight_fk.sql``), one anti-join each."""
    ident = sql.Identifier
    n = 0
    for fk in cat.foreign_keys:
        if not set(fk.columns) <= set(t.data_cols):
            continue  # a column the write does not set
        w = [sql.SQL("w.{}").format(ident(c)) for c in fk.columns]
        match = sql.SQL(" and ").join(sql.SQL("p.{} = {}").format(ident(pc), wc) for pc, wc in zip(fk.parent_columns, w))
        # an append-only table's rows keep (and its reversals name) a parent soft-deleted since
        live = (sql.SQL(" and p.deleted_at is null") if fk.parent_soft_deletes and not t.append_only
                else sql.SQL(""))
        missing = sql.SQL("not exists (select 1 from {} as p where {}{})").format(
            ident(fk.parent_schema, fk.parent_table), match, live)
        if fk.parent == t.name:  # self-reference: the parent may be written in this same step
            in_batch = sql.SQL(" and ").join(sql.SQL("s.{} = {}").format(ident(pc), wc)
                                             for pc, wc in zip(fk.parent_columns, w))
            missing = sql.SQL("{} and not exists (select 1 from _ok as s where s._final = 'LOADED' and {})").format(
                missing, in_batch)
        if fk.match_full:
            cols = sql.SQL(", ").join(w)
            violated = sql.SQL("num_nonnulls({c}) > 0 and (num_nulls({c}) > 0 or ({m}))").format(c=cols, m=missing)
        else:
            present = sql.SQL(" and ").join(sql.SQL("{} is not null").format(wc) for wc in w)
            violated = sql.SQL("{} and {}").format(present, missing)
        detail = json.dumps({"constraint": fk.name, "rule": "FOREIGN KEY", "columns": list(fk.columns),
                             "parent": fk.parent}, sort_keys=True)
        n += conn.execute(engine_query("preflight_fk", pk=ident(t.pk), violated=violated), {"detail": detail}).rowcount
    return n


def unique_index(conn: psycopg.Connection, t: Target, cat: Catalog, rows: _Rows, index: UniqueIndex) -> int:
    """DUPLICATE_KEY for one unique index (``sql/engine/preflight_unique.sql``); see the module doc
    for the survivor rule. Returns the rows refused; None-op (0) when the index reads a column
    this write does not set."""
    if not set(index.uses) <= rows.available:
        return 0
    ident = sql.Identifier
    keys, k = [], []
    for i, (expr, collation) in enumerate(zip(index.keys, index.collations)):
        e = sql.SQL("({})").format(sql.SQL(expr))
        if collation:
            e = sql.SQL("{} collate {}").format(e, sql.SQL(collation))
        keys.append(sql.SQL("{} as {}").format(e, ident(f"_k{i}")))
        k.append(f"_k{i}")
    eq = "{a}.{c} is not distinct from {b}.{c}" if index.nulls_not_distinct else "{a}.{c} = {b}.{c}"

    def pairs(a: str, b: str) -> sql.Composable:
        return sql.SQL(" and ").join(sql.SQL(eq).format(a=sql.Identifier(a), b=sql.Identifier(b), c=ident(c)) for c in k)

    def listed(prefix: str) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(ident(prefix), ident(c)) if prefix else ident(c) for c in k)

    not_null = sql.SQL("") if index.nulls_not_distinct else sql.SQL("").join(
        sql.SQL(" and r.{} is not null").format(ident(c)) for c in k)
    pk_type = cat.columns[t.pk].type_oid
    holder_key = (engine_query("preflight_holder_key", table=sql.Literal(t.name)) if pk_type == _UUID
                  else sql.SQL("select null::text as legacy_table, null::text as legacy_key"))
    statement = engine_query(
        "preflight_unique",
        pk=ident(t.pk), target=t.ident, rows=rows.sql, name=sql.Literal(index.name),
        keys=sql.SQL(", ").join(keys), r_keys=listed("r"), k_list=listed(""), w_k_list=listed("w"),
        predicate=sql.SQL(index.predicate or "true"), w_not_null=not_null,
        born=sql.SQL("b.created_at") if "created_at" in rows.provided else sql.SQL("null::timestamptz"),
        w_h=pairs("h", "w"), w_dup=pairs("dup", "w"), holder_key=holder_key)
    return conn.execute(statement).rowcount


def settle(conn: psycopg.Connection, t: Target) -> dict[str, int]:
    """Move the refused rows of ``_pf_new`` out of the write: their MERGED rows are refused with
    them, each becomes a reason row of ``_cand`` (``sql/engine/preflight_settle.sql``), and they
    leave ``_ok``. Returns legacy rows refused per reason."""
    conn.execute(engine_query("preflight_mates", pk=sql.Identifier(t.pk)))
    counts = dict(conn.execute(
        """select _reason, count(*) from (select distinct _legacy_table, _legacy_key, _reason from _pf_new) as v
           group by 1 order by 1""").fetchall())
    conn.execute(engine_query("preflight_settle"))
    if t.merges:  # else _ok is a view of _cand's rows without a reason: already out
        conn.execute("""delete from _ok as o using (select distinct _legacy_table, _legacy_key from _pf_new) as v
                        where o._legacy_table = v._legacy_table and o._legacy_key = v._legacy_key""")
    conn.execute("truncate _pf_new")
    return counts


def preflight(conn: psycopg.Connection, t: Target, row_rules: Iterable[Any] = (), *,
              actor: str = PIPELINE_ACTOR) -> PreflightResult:
    """The pre-flight step: refuse the rows of ``_ok`` the write would fail on (see the module doc).
    Needs ``_cand`` and ``_ok`` (the disposition step). Nothing to do when nothing is to be written."""
    started = time.monotonic()
    result = PreflightResult()
    if not conn.execute("select exists (select 1 from _ok where _final = 'LOADED')").fetchone()[0]:
        return result
    rules = as_row_rules(row_rules)
    cat = read_catalog(conn, t.name)
    conn.execute("drop table if exists pg_temp._pf_new")
    conn.execute(sql.SQL(
        """create temp table _pf_new on commit drop as
           select _legacy_table, _legacy_key, {pk} as _pk, null::text as _reason, null::jsonb as _detail
           from _cand where false""").format(pk=sql.Identifier(t.pk)))
    rows = _Rows(t, cat, actor)
    refused = one_row_checks(conn, t, cat, rows, rules, result)
    refused += foreign_keys(conn, t, cat)
    if refused:
        result.add(settle(conn, t))
    for index in cat.uniques:
        if unique_index(conn, t, cat, rows, index):
            result.add(settle(conn, t))
    result.seconds = round(time.monotonic() - started, 3)
    return result


__all__ = [
    "CHECK_VIOLATION", "DUPLICATE_KEY", "NULL_VIOLATION", "ORPHAN_FK", "SUITE_RULE", "UNPARSEABLE_VALUE",
    "Catalog", "PreflightResult", "RowRule", "as_row_rules", "foreign_keys", "one_row_checks", "preflight",
    "read_catalog", "settle", "unique_index",
]
