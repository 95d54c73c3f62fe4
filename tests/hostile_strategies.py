"""Any legacy content: Hypothesis strategies for hostile legacy databases, the mutation applier and
the invariants of a backfill over them (used by tests/test_properties_hostile.py and
bench/fuzz_backfill.py).

One example (:class:`HostileCase`) is a small generated legacy base (``generate(scale=N, seed=S,
profile=blueprint|live)``) whose legacy schema has lost every PK/UNIQUE/FK/CHECK/NOT NULL
(:func:`loosen`, catalog-driven), then a drawn list of mutations. Drawn mutations are abstract
(indices, not names): they are resolved against the catalog (the columns of the legacy base tables
the backfill stages, those with rows, read from pg_attribute) when applied, so a new legacy table or
column is covered without an edit, and a shrunk example stays meaningful. Hand-written cases may
name the table and column instead. Kinds:

* :class:`SetValue` - one column of one row (row = offset modulo the row count, in ctid order) set to
  a drawn value fitted to the column's type (:class:`Value`: NULL, '', blanks, another row's value
  in the same column as it is (a collision) or in another case or spacing, NFD/NFC accented names,
  Tamil/Devanagari names, long strings (a few KB, 1 MiB rarely; repetitive or incompressible),
  numbers with commas/units/ranges, impossible dates, extreme dates (0001-01-01, 9999-12-31,
  infinity, BC, year 20260), numeric NaN/Infinity, time 24:00, JSON of odd shapes, 2-D arrays, ...);
  by default among the columns some transform names (``anywhere`` lifts that);
* :class:`SetMany` - the same for every k-th row (a column mostly NULL, blank or junk);
* :class:`DuplicateRow` - the row inserted again with the same id (a repeated key), identical or
  with one column changed;
* :class:`NullKey` - the row's id set NULL;
* :class:`PointRef` - a FK-like column (``*_id`` uuid) pointed at a row of another table, at nothing
  or at the row itself;
* :class:`DriftColumn` - a non-text column turned TEXT (``ALTER ... TYPE text USING col::text``,
  dependent views re-created) and one row given a value only TEXT can hold ('abc', '#VALUE!', ...).

A mutation the database refuses (e.g. a value a ``varchar(n)`` or a ``numeric(p,s)`` cannot hold) is
skipped inside its savepoint and described as skipped.

:func:`check_case` runs the backfill in-process on the mutated base and checks the invariants of the
issue "Any legacy content", raising a :class:`InvariantViolation` subclass per invariant (its message
lists every violation found, with error classes, table names and counts only, never a value).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from hypothesis import strategies as st
from psycopg import sql

from hms_pipeline.defs import all_specs

LEGACY_SCHEMA = "public"
# canonical schemas whose constraints must hold after a run (etl: engine bookkeeping, not checked)
CONSTRAINT_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref")
CANONICAL_ASSET_PREFIXES = ("core/", "clinical/", "inpatient/", "pharmacy/", "billing/", "ref/")
RERUN_EXEMPT = ("ref/codes",)  # rewritten by its script on every run (test_backfill_engine exempts it too)
PROFILES = ("blueprint", "live")


# --- values ---------------------------------------------------------------------------------------

TAMIL = "அஆஇஈஉஊஎஏஐஒஓஔகஙசஞடணதநபமயரலவழளறனஜஷஸஹாிீுூெேைொோௌ்"
DEVANAGARI = "अआइईउऊएऐओऔकखगघचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौंः्"
ACCENTED = "áàâäãåāçćčéèêëēėęíìîïīñńóòôöõøōśšúùûüūýÿžÁÀÂÄÃÅĀÇĆČÉÈÊËĒÍÌÎÏÑÓÒÔÖÕØŌŚŠÚÙÛÜŪÝŽ"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

BLANKS = (" ", "   ", "\t", "\n", " \r\n ", "\u00a0", "\u3000", "\u2003", "\u200b")
TEXT_NUMBERS = ("1,234", "1,234.50", "12 mg", "10-20", "5 to 10", "98.6 F", "120/80", "₹1,200", "1.2.3",
                " 42 ", "-0", "1e309", "NaN", "Infinity", "½", "٣٤", "१२३", "0x1F", "~5", ">100", "<0.5",
                "12,5", "1.000.000", "37,5 °C", "5'8\"")
TEXT_DATES = ("31/02/2020", "2021-13-01", "2020-02-30", "00/00/0000", "0001-01-01", "9999-12-31", "yesterday",
              "1/1/1", "12-31-2020", "2020-06-15T25:61:00", "infinity", "0000-00-00 00:00:00", "15 Aug 1947",
              "२०२०-०१-०१")
TRICKY = ("O'Brien", "a\\b", "100%", "a_b", "x'); drop table patients;--", '"quoted"', "\u202eevil",
          "zero\u200bwidth", "tab\tin", "line\nbreak", "{}", "[]", "null", "NULL", "None", "-", "?", "N/A",
          "#VALUE!", "<script>", "&amp;")
DRIFT_JUNK = ("abc", "NaN", "#VALUE!", "null", "N/A", "1,5", "—", "12 mg", "31/02/2020", "{bad json")
JSON_KEYS = ("sessions", "availableSessions", "workingDays", "workingHoursStart", "workingHoursEnd",
             "emergencyAvailable", "floorNumber", "department", "name", "value", "unit", "units", "result",
             "reference_range", "ref_range", "normal_range", "parameter", "parameter_name", "test", "test_name",
             "status", "analyte", "result_value", "", "0", "Sessions")

# per column family: values any such column accepts (tried in order of n; 'extreme' takes the first two)
EDGES: dict[str, tuple[str, ...]] = {
    "integer": ("0", "-1", "2147483647", "-2147483648", "1", "999999"),
    "smallint": ("0", "-1", "32767", "-32768"),
    "bigint": ("0", "-1", "9223372036854775807", "-9223372036854775808"),
    "numeric": ("0", "-1", "NaN", "Infinity", "-Infinity", "1e20", "0.000001", "-99999999.99", "99999999.99"),
    "real": ("0", "-1", "NaN", "Infinity", "1e30"),
    "double precision": ("0", "-1", "NaN", "Infinity", "1e300"),
    "date": ("0001-01-01", "9999-12-31", "infinity", "-infinity", "0044-03-15 BC", "1900-01-01", "2999-01-01",
             "20260-03-01"),
    "timestamp with time zone": ("0001-01-01 00:00:00+00", "9999-12-31 23:59:59+00", "infinity", "-infinity",
                                 "1970-01-01 00:00:00+00", "2026-03-31 23:59:59.999999+05:30",
                                 "0044-03-15 12:00:00+00 BC", "20260-01-01 00:00:00+00"),
    "timestamp without time zone": ("0001-01-01 00:00:00", "9999-12-31 23:59:59", "infinity", "-infinity",
                                    "1970-01-01 00:00:00", "20260-01-01 00:00:00"),
    "time without time zone": ("00:00:00", "24:00:00", "23:59:59.999999", "12:00:00"),
    "boolean": ("true", "false"),
    "uuid": ("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
    "jsonb": ("{}", "[]", "null", "0", '""', '"text"', "[[1, 2], [3]]", '{"a": {"b": {"c": []}}}', "true",
              '{"sessions": "morning"}', '{"workingDays": {"mon": true}}', '{"workingHoursStart": 9}'),
    "json": ("{}", "[]", "null", "0", '""'),
    "array": ("{}", "{NULL}", '{""}', '{"a,b"}', "{{a},{b}}", '{" "}'),
    "text": TEXT_NUMBERS + TEXT_DATES + TRICKY,
}


@dataclass
class Value:
    """A drawn value, fitted to a column's type when applied. ``kind``: null, empty, blank, case,
    pad, nfd, nfc, script, long, number_text, date_text, tricky, extreme, edge, json; and ``literal``
    (``text`` as given, for hand-written cases; never drawn)."""

    kind: str
    text: str = ""
    n: int = 0
    json: Any = None

    def __repr__(self) -> str:
        parts = [repr(self.kind)]
        if self.text:
            t = self.text if len(self.text) <= 40 else self.text[:20] + f"...<{len(self.text)} chars>"
            parts.append(f"text={t!r}")
        if self.n:
            parts.append(f"n={self.n}")
        if self.json is not None:
            j = json.dumps(self.json, ensure_ascii=False)
            parts.append(f"json={j if len(j) <= 60 else j[:40] + '...'}")
        return f"Value({', '.join(parts)})"

    def _repr_pretty_(self, p, cycle):  # Hypothesis' pretty printer (falsifying examples)
        p.text(repr(self))


_json_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


def _json_extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(JSON_KEYS) | _json_text, children,
                                                            max_size=4)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | _json_text,
    _json_extend, max_leaves=10,
)


def _name_text(alphabet: str) -> st.SearchStrategy[str]:
    word = st.text(alphabet=alphabet, min_size=1, max_size=10)
    return st.lists(word, min_size=1, max_size=3).map(" ".join)


script_names = st.one_of(_name_text(TAMIL), _name_text(DEVANAGARI), _name_text(ACCENTED + LATIN),
                         _name_text(TAMIL + DEVANAGARI + LATIN))
accented_names = _name_text(ACCENTED + LATIN)
# a few KB mostly; 1 MiB for 1 draw in 20 (shrinks towards the small sizes)
long_sizes = st.tuples(st.integers(0, 19), st.integers(1000, 8000)).map(lambda t: 1 << 20 if t[0] == 19 else t[1])

values: st.SearchStrategy[Value] = st.one_of(
    st.just(Value("null")),
    st.just(Value("empty")),
    st.builds(Value, kind=st.just("blank"), n=st.integers(0, len(BLANKS) - 1)),
    st.builds(Value, kind=st.just("case"), n=st.integers(0, 1000),
              text=st.sampled_from(("same", "upper", "lower", "title", "swapcase", "casefold"))),
    st.builds(Value, kind=st.just("pad"), n=st.integers(0, 1000), text=st.sampled_from(("both", "double", "tab"))),
    st.builds(Value, kind=st.just("nfd"), text=accented_names),
    st.builds(Value, kind=st.just("nfc"), text=accented_names),
    st.builds(Value, kind=st.just("script"), text=script_names),
    st.builds(Value, kind=st.just("long"), n=long_sizes,
              text=st.sampled_from(("a", "த", "é", "😀", "ab ", "random"))),  # random: incompressible
    st.builds(Value, kind=st.just("number_text"), n=st.integers(0, len(TEXT_NUMBERS) - 1)),
    st.builds(Value, kind=st.just("date_text"), n=st.integers(0, len(TEXT_DATES) - 1)),
    st.builds(Value, kind=st.just("tricky"), n=st.integers(0, len(TRICKY) - 1)),
    st.builds(Value, kind=st.just("extreme"), n=st.integers(0, 1)),
    st.builds(Value, kind=st.just("edge"), n=st.integers(0, 100)),
    st.builds(Value, kind=st.just("json"), json=json_values),
)


# --- mutations ------------------------------------------------------------------------------------

INDEX = st.integers(0, 10_000)


@dataclass
class SetValue:
    table: int | str  # an index (modulo the candidate tables, sorted) or a table name
    column: int | str  # an index (modulo the table's columns, ordinal order) or a column name
    row: int  # offset modulo the table's rows, in ctid order
    value: Value
    anywhere: bool = False  # False: among the columns some transform names (where content matters most)


@dataclass
class SetMany:
    """The same value in one column of every ``every``-th row (rows in ctid order, starting at
    ``offset``): a column that is mostly NULL, blank or junk, as a legacy column often is."""

    table: int | str
    column: int | str
    every: int
    offset: int
    value: Value
    anywhere: bool = False


@dataclass
class DuplicateRow:
    table: int | str
    row: int
    column: int | str = 0
    changed: Value | None = None  # None: an identical copy


@dataclass
class NullKey:
    table: int | str
    row: int


@dataclass
class PointRef:
    table: int | str
    column: int | str
    row: int
    target: str  # other | nothing | self
    other_table: int | str = 0
    other_row: int = 0


@dataclass
class DriftColumn:
    table: int | str
    column: int | str
    row: int
    junk: str = "abc"


Mutation = SetValue | SetMany | DuplicateRow | NullKey | PointRef | DriftColumn

# (a repeated key first: Hypothesis' simplest example, which CI always runs, is then a hostile one)
mutations: st.SearchStrategy = st.one_of(
    st.builds(DuplicateRow, table=INDEX, row=INDEX, column=INDEX, changed=st.none() | values),
    st.builds(SetValue, table=INDEX, column=INDEX, row=INDEX, value=values, anywhere=st.booleans()),
    st.builds(SetMany, table=INDEX, column=INDEX, every=st.integers(1, 5), offset=INDEX, value=values,
              anywhere=st.booleans()),
    st.builds(NullKey, table=INDEX, row=INDEX),
    st.builds(PointRef, table=INDEX, column=INDEX, row=INDEX, target=st.sampled_from(("other", "nothing", "self")),
              other_table=INDEX, other_row=INDEX),
    st.builds(DriftColumn, table=INDEX, column=INDEX, row=INDEX, junk=st.sampled_from(DRIFT_JUNK)),
)


@dataclass
class HostileCase:
    """One example: a generated legacy base (profile, seed, scale), the mutations, and the physical
    order of the second database (``reverse``, or ``shuffle`` by a hash salted with ``salt``)."""

    profile: str
    seed: int
    scale: int
    mutations: list = field(default_factory=list)
    order: str = "reverse"
    salt: int = 0


def hostile_cases(profile: str, *, min_mutations: int = 1, max_mutations: int = 12,
                  scales=(20, 40)) -> st.SearchStrategy[HostileCase]:
    return st.builds(
        HostileCase, profile=st.just(profile), seed=st.integers(0, 2**31 - 1), scale=st.integers(*scales),
        mutations=st.lists(mutations, min_size=min_mutations, max_size=max_mutations),
        order=st.sampled_from(("reverse", "shuffle")), salt=st.integers(0, 2**16))


# --- catalog, loosening, applying -----------------------------------------------------------------


@dataclass
class Column:
    name: str
    type: str  # format_type with modifier: 'character varying(100)', 'numeric(10,2)', 'text[]'
    base: str  # without modifier: 'character varying', 'numeric', 'text[]'
    generated: bool

    @property
    def family(self) -> str:
        if self.base.endswith("[]"):
            return "array"
        if self.base in ("text", "character varying", "character"):
            return "text"
        return self.base if self.base in EDGES else "text"


def legacy_columns(conn, schema: str = LEGACY_SCHEMA) -> dict[str, list[Column]]:
    """Every base table of the legacy schema and its columns (ordinal order)."""
    out: dict[str, list[Column]] = {}
    for t, c, typ, base, gen in conn.execute(
            """select cl.relname, a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, null),
                      a.attgenerated <> ''
               from pg_attribute a join pg_class cl on cl.oid = a.attrelid
               join pg_namespace n on n.oid = cl.relnamespace
               where n.nspname = %s and cl.relkind = 'r' and a.attnum > 0 and not a.attisdropped
               order by cl.relname, a.attnum""", (schema,)):
        out.setdefault(t, []).append(Column(c, typ, base, bool(gen)))
    return out


@functools.cache
def transform_words() -> frozenset[str]:
    """Every identifier-like word of the SQL the backfill runs (transforms and engine helpers, the
    legacy DDL and generator excluded): the legacy columns some transform reads are among them."""
    from hms_pipeline.paths import SQL_DIR

    words: set[str] = set()
    for path in SQL_DIR.rglob("*.sql"):
        if "legacy" not in path.relative_to(SQL_DIR).parts:
            words.update(re.findall(r"[a-z_][a-z0-9_]*", path.read_text(encoding="utf-8").lower()))
    return frozenset(words)


@functools.cache
def staged_table_names() -> tuple[str, ...]:
    from hms_pipeline.defs.etl.assets import legacy_table_names

    return tuple(legacy_table_names())


def loosen(conn, schema: str = LEGACY_SCHEMA) -> int:
    """Drop every PK/UNIQUE/FK/CHECK/exclusion constraint (FKs first), every NOT NULL and every unique
    index of the legacy schema, from the catalog: a legacy database that lost its constraints."""
    n = 0
    for table, name in conn.execute(
            """select cl.relname, c.conname from pg_constraint c join pg_class cl on cl.oid = c.conrelid
               join pg_namespace n on n.oid = cl.relnamespace
               where n.nspname = %s and cl.relkind = 'r' and c.contype in ('f', 'p', 'u', 'c', 'x')
               order by c.contype <> 'f', cl.relname, c.conname""", (schema,)).fetchall():
        conn.execute(sql.SQL("alter table {} drop constraint if exists {} cascade").format(
            sql.Identifier(schema, table), sql.Identifier(name)))
        n += 1
    for table, col in conn.execute(
            """select cl.relname, a.attname from pg_attribute a join pg_class cl on cl.oid = a.attrelid
               join pg_namespace n on n.oid = cl.relnamespace
               where n.nspname = %s and cl.relkind = 'r' and a.attnum > 0 and not a.attisdropped and a.attnotnull
               order by 1, 2""", (schema,)).fetchall():
        conn.execute(sql.SQL("alter table {} alter column {} drop not null").format(
            sql.Identifier(schema, table), sql.Identifier(col)))
        n += 1
    for (idx,) in conn.execute(
            """select i.indexrelid::regclass::text from pg_index i join pg_class cl on cl.oid = i.indrelid
               join pg_namespace n on n.oid = cl.relnamespace where n.nspname = %s and i.indisunique""",
            (schema,)).fetchall():
        conn.execute(sql.SQL("drop index if exists {}").format(sql.SQL(idx)))
        n += 1
    return n


class _Skip(Exception):
    pass


class Applier:
    """Resolves abstract mutations against the legacy catalog and applies them (one savepoint each)."""

    def __init__(self, conn, schema: str = LEGACY_SCHEMA, tables: tuple[str, ...] | None = None):
        self.conn = conn
        self.schema = schema
        self.wanted = tables if tables is not None else staged_table_names()

    # catalog helpers (re-read per mutation: drifts and duplicates change it)
    def _cat(self) -> dict[str, list[Column]]:
        return legacy_columns(self.conn, self.schema)

    def _rows(self, table: str) -> int:
        return self.conn.execute(sql.SQL("select count(*) from {}").format(self._t(table))).fetchone()[0]

    def _t(self, table: str) -> sql.Composable:
        return sql.Identifier(self.schema, table)

    def _tables(self, cat) -> list[str]:
        return [t for t in sorted(cat) if t in self.wanted and self._rows(t) > 0]

    def _pick_table(self, cat, i: int | str, tables: list[str] | None = None) -> str:
        """Table ``i`` (an index modulo the candidates, or a name) among ``tables`` (default: the
        staged legacy tables with rows)."""
        if isinstance(i, str):
            if i not in cat:
                raise _Skip(f"no legacy table {i}")
            return i
        tables = self._tables(cat) if tables is None else tables
        if not tables:
            raise _Skip("no legacy table with rows")
        return tables[i % len(tables)]

    @staticmethod
    def _pick_col(cols: list[Column], i: int | str) -> Column:
        if isinstance(i, str):
            found = [c for c in cols if c.name == i]
            if not found:
                raise _Skip(f"no column {i}")
            return found[0]
        if not cols:
            raise _Skip("no column")
        return cols[i % len(cols)]

    def _ctid(self, table: str, row: int):
        n = self._rows(table)
        if n == 0:
            raise _Skip(f"{table} has no rows")
        return self.conn.execute(sql.SQL("select ctid from {} order by ctid offset %s limit 1").format(
            self._t(table)), (row % n,)).fetchone()[0], row % n

    def _existing(self, table: str, col: Column, n: int) -> str | None:
        rows = self.conn.execute(sql.SQL(
            "select {c}::text from {t} where {c} is not null and {c}::text <> '' order by ctid").format(
            c=sql.Identifier(col.name), t=self._t(table))).fetchall()
        return rows[n % len(rows)][0] if rows else None

    # values
    def fit(self, value: Value, table: str, col: Column) -> tuple[str | None, str]:
        """(text of the value to cast to the column's type, PHI-free description)."""
        fam, k = col.family, value.kind
        if k == "null":
            return None, "NULL"
        if k == "literal":  # hand-written cases: the text as given, cast to the column's type
            return value.text, f"literal ({len(value.text)} chars)"
        if k in ("case", "pad"):
            base = self._existing(table, col, value.n)
            if base is None:
                return None, f"{k} of no value: NULL"
            if k == "case":
                out = {"same": str, "upper": str.upper, "lower": str.lower, "title": str.title,
                       "swapcase": str.swapcase, "casefold": str.casefold}[value.text](base)
                if value.text == "same":
                    return out, "the same value as another row (a collision)"
                return out, f"{value.text}-case variant of another row's value"
            out = {"both": f"  {base} ", "double": base.replace(" ", "  ") if " " in base else f"{base} ",
                   "tab": f"\t{base}\n"}[value.text]
            return out, f"space variant ({value.text}) of another row's value"
        if fam == "text":
            if k == "empty":
                return "", "''"
            if k == "blank":
                return BLANKS[value.n % len(BLANKS)], f"blank #{value.n % len(BLANKS)}"
            if k == "nfd":
                return unicodedata.normalize("NFD", value.text), f"NFD accented name ({len(value.text)} chars)"
            if k == "nfc":
                return unicodedata.normalize("NFC", value.text), f"NFC accented name ({len(value.text)} chars)"
            if k == "script":
                return value.text, f"script name ({len(value.text)} chars)"
            if k == "long":
                if value.text == "random":  # hex of a hash chain: TOAST cannot compress it below an index row
                    s = "".join(hashlib.sha256(f"{value.n}:{i}".encode()).hexdigest()
                                for i in range(value.n // 64 + 1))[: value.n]
                    return s, f"long incompressible string of {value.n} chars"
                unit = value.text or "a"
                s = (unit * (value.n // len(unit) + 1))[: value.n]
                return s, f"long string of {value.n} x {unit!r}"
            if k == "number_text":
                v = TEXT_NUMBERS[value.n % len(TEXT_NUMBERS)]
                return v, f"number text {v!r}"
            if k == "date_text":
                v = TEXT_DATES[value.n % len(TEXT_DATES)]
                return v, f"date text {v!r}"
            if k == "tricky":
                return TRICKY[value.n % len(TRICKY)], f"tricky text {TRICKY[value.n % len(TRICKY)]!r}"
            if k == "json":
                return json.dumps(value.json, ensure_ascii=False), "JSON text"
            edges = EDGES["text"]
            v = edges[value.n % len(edges)] if k == "edge" else TEXT_DATES[4 + value.n % 2]
            return v, f"text {v!r}"
        if fam in ("jsonb", "json"):
            if k == "json":
                return json.dumps(value.json), "JSON " + _json_shape(value.json)
            if k in ("script", "nfd", "nfc"):
                return json.dumps(value.text, ensure_ascii=False), "JSON string"
            if k == "long":
                return json.dumps({"notes": (value.text or "a") * (value.n // max(1, len(value.text or "a")))}), \
                    f"JSON object with a {value.n}-char string"
            if k == "empty":
                return '""', 'JSON ""'
            edges = EDGES[fam]
            v = edges[value.n % len(edges)]
            return v, f"JSON {v}"
        if fam == "array":
            if k == "empty":
                return "{}", "empty array"
            if k in ("script", "nfd", "nfc", "tricky", "number_text", "date_text", "blank"):
                s = {"tricky": TRICKY[value.n % len(TRICKY)], "number_text": TEXT_NUMBERS[value.n % len(TEXT_NUMBERS)],
                     "date_text": TEXT_DATES[value.n % len(TEXT_DATES)],
                     "blank": BLANKS[value.n % len(BLANKS)]}.get(k, value.text)
                return "{" + _array_elem(s) + "," + _array_elem(s.upper()) + "}", f"array of {k}"
            edges = EDGES["array"]
            return edges[value.n % len(edges)], f"array {edges[value.n % len(edges)]}"
        edges = EDGES[fam]
        if k == "extreme" and fam in ("date", "timestamp with time zone", "timestamp without time zone"):
            v = edges[value.n % 2]
        else:
            v = edges[(value.n + len(k)) % len(edges)]
        return v, f"{fam} {v}"

    # mutation kinds
    def apply(self, m) -> str:
        cat = self._cat()
        if isinstance(m, SetValue):
            table = self._pick_table(cat, m.table)
            cols = [c for c in cat[table] if not c.generated]
            if not m.anywhere and not isinstance(m.column, str):
                cols = [c for c in cols if c.name in transform_words()] or cols
            col = self._pick_col(cols, m.column)
            ctid, r = self._ctid(table, m.row)
            v, desc = self.fit(m.value, table, col)
            self._set(table, col, ctid, v)
            return f"set {table}.{col.name} [{col.type}] of row {r} to {desc}"
        if isinstance(m, SetMany):
            table = self._pick_table(cat, m.table)
            cols = [c for c in cat[table] if not c.generated]
            if not m.anywhere and not isinstance(m.column, str):
                cols = [c for c in cols if c.name in transform_words()] or cols
            col = self._pick_col(cols, m.column)
            every = max(1, m.every)
            v, desc = self.fit(m.value, table, col)
            n = self.conn.execute(sql.SQL(
                """update {t} set {c} = %s::{ty} where ctid in (
                       select ctid from (select ctid, row_number() over (order by ctid) - 1 as rn from {t}) x
                       where rn %% %s = %s)""").format(t=self._t(table), c=sql.Identifier(col.name),
                                                        ty=sql.SQL(col.type)),
                (v, every, m.offset % every)).rowcount
            return f"set {table}.{col.name} [{col.type}] of {n} rows (every {every}) to {desc}"
        if isinstance(m, DuplicateRow):
            table = self._pick_table(cat, m.table)
            cols = [c for c in cat[table] if not c.generated]
            ctid, r = self._ctid(table, m.row)
            names = sql.SQL(", ").join(sql.Identifier(c.name) for c in cols)
            new = self.conn.execute(sql.SQL("insert into {t} ({c}) select {c} from {t} where ctid = %s returning ctid")
                                    .format(t=self._t(table), c=names), (ctid,)).fetchone()[0]
            if m.changed is None:
                return f"duplicate row {r} of {table} (same id, identical)"
            col = self._pick_col(cols, m.column)
            v, desc = self.fit(m.changed, table, col)
            self._set(table, col, new, v)
            return f"duplicate row {r} of {table} (same id) with {col.name} [{col.type}] set to {desc}"
        if isinstance(m, NullKey):
            table = self._pick_table(cat, m.table)
            key = _key_column(cat[table])
            ctid, r = self._ctid(table, m.row)
            self.conn.execute(sql.SQL("update {} set {} = null where ctid = %s").format(
                self._t(table), sql.Identifier(key)), (ctid,))
            return f"set key {table}.{key} of row {r} to NULL"
        if isinstance(m, PointRef):
            candidates = [t for t in self._tables(cat)
                          if any(_fk_like(c) for c in cat[t])]
            if not candidates:
                raise _Skip("no table with an *_id uuid column")
            table = self._pick_table(cat, m.table, candidates)
            cols = [c for c in cat[table] if _fk_like(c)]
            col = self._pick_col(cols, m.column)
            ctid, r = self._ctid(table, m.row)
            key = _key_column(cat[table])
            if m.target == "self":
                self.conn.execute(sql.SQL("update {t} set {c} = {k}::uuid where ctid = %s").format(
                    t=self._t(table), c=sql.Identifier(col.name), k=sql.Identifier(key)), (ctid,))
                return f"point {table}.{col.name} of row {r} at the row itself"
            if m.target == "nothing":
                target = str(uuid.UUID(hashlib.md5(f"nothing:{m.other_row}".encode()).hexdigest()))
                self._set(table, col, ctid, target)
                return f"point {table}.{col.name} of row {r} at no row"
            others = [t for t in self._tables(cat) if any(c.name == "id" and c.base == "uuid" for c in cat[t])]
            other = self._pick_table(cat, m.other_table, others)
            octid, orow = self._ctid(other, m.other_row)
            target = self.conn.execute(sql.SQL("select id::text from {} where ctid = %s").format(self._t(other)),
                                       (octid,)).fetchone()[0]
            self._set(table, col, ctid, target)
            return f"point {table}.{col.name} of row {r} at {other} row {orow}"
        if isinstance(m, DriftColumn):
            candidates = [t for t in self._tables(cat) if _driftable(cat[t])]
            if not candidates:
                raise _Skip("no column to drift")
            table = self._pick_table(cat, m.table, candidates)
            cols = _driftable(cat[table])
            col = self._pick_col(cols, m.column)
            self._drift(table, col)
            ctid, r = self._ctid(table, m.row)
            self.conn.execute(sql.SQL("update {} set {} = %s where ctid = %s").format(
                self._t(table), sql.Identifier(col.name)), (m.junk, ctid))
            return f"drift {table}.{col.name} from {col.type} to text; row {r} := {m.junk!r}"
        raise TypeError(f"unknown mutation {m!r}")

    def _set(self, table: str, col: Column, ctid, v: str | None) -> None:
        self.conn.execute(sql.SQL("update {} set {} = %s::{} where ctid = %s").format(
            self._t(table), sql.Identifier(col.name), sql.SQL(col.type)), (v, ctid))

    def _drift(self, table: str, col: Column) -> None:
        """ALTER ... TYPE text, re-creating the views that read the column (the live profile's alias
        views are SELECT * over their base table)."""
        views = self.conn.execute(
            """select distinct v.oid::regclass::text, pg_get_viewdef(v.oid)
               from pg_depend d join pg_rewrite rw on rw.oid = d.objid join pg_class v on v.oid = rw.ev_class
               where d.refobjid = %s::regclass and v.oid <> d.refobjid and v.relkind = 'v'""",
            (f"{self.schema}.{table}",)).fetchall()
        for name, _ in views:
            self.conn.execute(sql.SQL("drop view {}").format(sql.SQL(name)))
        self.conn.execute(sql.SQL("alter table {t} alter column {c} type text using {c}::text").format(
            t=self._t(table), c=sql.Identifier(col.name)))
        for name, definition in views:
            self.conn.execute(sql.SQL("create view {} as {}").format(sql.SQL(name), sql.SQL(definition)))

    def apply_all(self, muts) -> list[str]:
        out = []
        for i, m in enumerate(muts):
            try:
                with self.conn.transaction():
                    out.append(f"{i}: {self.apply(m)}")
            except _Skip as e:
                out.append(f"{i}: skipped ({e})")
            except psycopg.Error as e:
                out.append(f"{i}: skipped (refused: {type(e).__name__})")
        return out


def _json_shape(v: Any, depth: int = 0) -> str:
    if isinstance(v, dict):
        if depth > 1:
            return "object"
        return "{" + ",".join(f"{k!r}:{_json_shape(x, depth + 1)}" for k, x in list(v.items())[:3]) + "}"
    if isinstance(v, list):
        return "list" if depth > 1 else "[" + ",".join(_json_shape(x, depth + 1) for x in v[:3]) + "]"
    return type(v).__name__


def _array_elem(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key_column(cols: list[Column]) -> str:
    names = [c.name for c in cols]
    return "id" if "id" in names else names[0]


def _fk_like(c: Column) -> bool:
    return c.base == "uuid" and c.name.endswith("_id") and not c.generated


def _driftable(cols: list[Column]) -> list[Column]:
    return [c for c in cols if c.family != "text" and not c.generated and c.name != _key_column(cols)]


# --- databases ------------------------------------------------------------------------------------


def create_db(server_url: str, prefix: str = "hxp") -> str:
    from conftest import create_database

    return create_database(server_url, prefix)


def drop_db(server_url: str, url: str) -> None:
    from conftest import drop_database

    drop_database(server_url, url)


def clone_reordered(server_url: str, url: str, order: str, salt: int, schema: str = LEGACY_SCHEMA) -> str:
    """A copy of ``url`` (CREATE DATABASE ... TEMPLATE) whose legacy tables hold the same rows in
    another physical order: reversed ctid order, or shuffled by a salted hash of the ctid."""
    from hms_pipeline.db import database_name, with_database

    name = f"hxo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(database_name(url))))
    copy = with_database(server_url, name)
    by = sql.SQL("_c desc") if order == "reverse" else sql.SQL("md5(_c::text || {})").format(sql.Literal(str(salt)))
    with psycopg.connect(copy) as conn:
        for table, cols in legacy_columns(conn, schema).items():
            names = sql.SQL(", ").join(sql.Identifier(c.name) for c in cols if not c.generated)
            t = sql.Identifier(schema, table)
            conn.execute(sql.SQL("create temp table _r on commit drop as select x.*, x.ctid as _c from {} x").format(t))
            conn.execute(sql.SQL("truncate {}").format(t))
            conn.execute(sql.SQL("insert into {t} ({c}) select {c} from _r order by {by}").format(t=t, c=names, by=by))
            conn.commit()
    return copy


# --- PHI needles ----------------------------------------------------------------------------------

_NAME_COL = re.compile(r"^(first_name|last_name|patient_name|customer_name|guardian_name|emergency_contact_name|"
                       r"doctor_name|consulting_doctor_name)$")
PERSON_TABLES = ("patients", "users", "staff")


# a name that is only an honorific (a placeholder the legacy app stored) is not a person's name:
# 'Master' also appears in 'drug master'
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "smt", "shri", "sri", "thiru", "tmt", "selvi",
                        "kumari", "baby", "master", "prof", "sir", "madam", "sister", "brother"})


# what the legacy app (and so the generator) writes in a name column when there is no person: not
# a person's name, and the product may well say it in its own words ("staff self bills")
PLACEHOLDER_NAMES = frozenset({"staff self bill"})


def _name_needle(s: str) -> str | None:
    s = " ".join(s.split())
    if len(s) < 5 or sum(ch.isalpha() for ch in s) < 2:
        return None
    if all(w.strip(".").lower() in HONORIFICS for w in s.split()):
        return None
    if s.lower() in PLACEHOLDER_NAMES:
        return None
    return s[:40]


def phi_needles(conn, schema: str = LEGACY_SCHEMA) -> list[str]:
    """Every name, phone and e-mail in the legacy tables (after the mutations): person names
    (``name`` of patients/users, ``*_name`` person columns, staff first + last), every ``*phone*``
    column (as stored, its last 10 digits, +91 forms) and every ``*email*`` column."""
    needles: set[str] = set()
    cat = legacy_columns(conn, schema)
    for table, cols in cat.items():
        names = {c.name for c in cols}
        for c in cols:
            n = c.name
            is_name = _NAME_COL.match(n) or (n == "name" and table in PERSON_TABLES)
            if not (is_name or "phone" in n or "mobile" in n or "email" in n):
                continue
            for (v,) in conn.execute(sql.SQL("select distinct {}::text from {} where {} is not null").format(
                    sql.Identifier(n), sql.Identifier(schema, table), sql.Identifier(n))):
                if is_name:
                    for cand in (v, v[4:] if v.startswith("Dr. ") else ""):
                        if (nd := _name_needle(cand)):
                            needles.add(nd)
                elif "email" in n:
                    if "@" in v and len(v.strip()) >= 6:
                        needles.add(v.strip()[:60])
                else:
                    digits = re.sub(r"\D", "", v)
                    if len(digits) >= 10 and re.fullmatch(r"[\d\s()+.-]+", v.strip()):
                        local = digits[-10:]
                        needles |= {v.strip(), local, f"+91{local}", f"+91 {local}", f"+91-{local}",
                                    f"91{local}", f"{local[:5]} {local[5:]}"}
        if table == "staff" and {"first_name", "last_name"} <= names:
            for (v,) in conn.execute(sql.SQL("select distinct concat_ws(' ', first_name, last_name) from {}").format(
                    sql.Identifier(schema, table))):
                if (nd := _name_needle(v or "")):
                    needles.add(nd)
    return sorted(needles)


# --- running the backfill -------------------------------------------------------------------------


@functools.cache
def _job(suites: bool):
    if suites:
        from hms_pipeline.definitions import defs

        return defs.resolve_job_def("phase_backfill")
    from backfill_helpers import backfill_job

    return backfill_job(None, suites=False)


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.buf = io.StringIO()

    def emit(self, record):
        try:
            self.buf.write(f"{record.name} {record.levelname} {record.getMessage()}\n")
            if record.exc_info and record.exc_info[1] is not None:
                self.buf.write(f"{record.exc_info[1]!r}\n")
        except Exception:  # a log record that cannot be formatted is not ours to fix here
            pass


@contextlib.contextmanager
def capture_logs() -> Iterator[_Capture]:
    """Every Python log record at DEBUG (root, dagster, hms_pipeline) while the block runs."""
    handler = _Capture()
    loggers = [logging.getLogger(), logging.getLogger("dagster"), logging.getLogger("hms_pipeline")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


@dataclass
class Run:
    result: Any
    events: str  # every event of the run as stored (serialized)
    logs: str  # Python log records during the run
    report_dir: str | None = None


def run_backfill(url: str, workdir: str, *, suites: bool = False, report: bool = False,
                 legacy_url: str | None = None) -> Run:
    """The backfill phase in-process on ``url`` (legacy in schema public of the same database, or of
    ``legacy_url``), with an ephemeral instance; ``suites=False`` leaves the GX suite checks out;
    ``report`` writes the run's validation report to ``<workdir>/reports``."""
    import dagster as dg
    from dagster._serdes import serialize_value

    job = _job(suites)
    reports = os.path.join(workdir, "reports")
    with environment(HMS_DATABASE_URL=url, HMS_LEGACY_DATABASE_URL=legacy_url, HMS_LEGACY_SCHEMA=None,
                     HMS_REPORTS_DIR=reports, HMS_HOME=os.path.join(workdir, "home")), capture_logs() as cap:
        instance = dg.DagsterInstance.ephemeral()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                        "resources": {"backfill_options": {"config": {"full_refresh": False}}}})
        report_dir = None
        if report:
            from hms_pipeline.definitions import defs
            from hms_pipeline.quality.sensors import phases_from_defs, write_report_for_run
            from hms_pipeline.resources import HmsDatabaseResource

            path = write_report_for_run(instance, result.run_id, HmsDatabaseResource(), phases_from_defs(defs))
            report_dir = str(path.parent if path and path.is_file() else path) if path else None
        events = "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id))
    return Run(result, events, cap.buf.getvalue(), report_dir)


def step_failures(result) -> list[str]:
    """'<step>: <innermost error class>: <message without quoted values/numbers>' per failed step."""
    from hms_pipeline.quality.phi import scrub_message

    out = []
    for ev in result.get_step_failure_events():
        err = ev.event_specific_data.error if ev.event_specific_data else None
        while err is not None and err.cause is not None:
            err = err.cause
        cls = err.cls_name if err else "?"
        msg = scrub_message(err.message if err else "", limit=160)
        out.append(f"{ev.step_key}: {cls}: {msg}")
    return out


def failed_checks(result) -> list[str]:
    return [f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description}"
            for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]


def materializations(result) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


# --- invariants -----------------------------------------------------------------------------------


class InvariantViolation(AssertionError):
    invariant = "?"


class RunFailed(InvariantViolation):
    invariant = "1 the backfill run succeeds"


class RowsNotAccounted(InvariantViolation):
    invariant = "2 every legacy row is loaded, merged or quarantined"


class ConstraintViolated(InvariantViolation):
    invariant = "3 every canonical constraint holds"


class RerunWrote(InvariantViolation):
    invariant = "4 a no-change re-run writes 0 rows"


class OrderDependent(InvariantViolation):
    invariant = "5 another physical order gives the same canonical rows"


class PhiLeaked(InvariantViolation):
    invariant = "6 no generated name/phone/e-mail in logs, events or the report"


def constraint_catalog(conn) -> set[tuple[str, str, str]]:
    """(table, constraint, definition) of every top-level constraint of the canonical schemas."""
    return {tuple(r) for r in conn.execute(
        """select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           from pg_constraint c join pg_namespace n on n.oid = c.connamespace
           where n.nspname = any(%s) and c.conrelid <> 0 and c.conparentid = 0""",
        (list(CONSTRAINT_SCHEMAS),)).fetchall()}


def index_catalog(conn) -> set[tuple[str, str]]:
    return {tuple(r) for r in conn.execute(
        """select i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind in ('i', 'I')""", (list(CONSTRAINT_SCHEMAS),)).fetchall()}


def constraint_violations(conn, before: set | None = None, indexes_before: set | None = None) -> list[str]:
    """Constraints of the canonical schemas that do not hold: lost since ``before``, left NOT VALID,
    FK rows without a parent (anti-join), CHECK rows whose expression is false, invalid indexes."""
    out = []
    if before is not None:
        lost = before - constraint_catalog(conn)
        out += [f"constraint {c} of {t} missing after the run" for t, c, _ in sorted(lost)]
    if indexes_before is not None:
        lost = indexes_before - index_catalog(conn)
        out += [f"index of {t} missing after the run: {d.split(' ON ')[0]}" for t, d in sorted(lost)]
    rows = conn.execute(
        """select c.oid, c.conrelid::regclass::text, c.conname, c.contype, c.convalidated, pg_get_constraintdef(c.oid),
                  c.confrelid::regclass::text,
                  array(select a.attname::text from unnest(c.conkey) with ordinality k(n, o)
                        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o),
                  array(select a.attname::text from unnest(c.confkey) with ordinality k(n, o)
                        join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o)
           from pg_constraint c join pg_namespace n on n.oid = c.connamespace
           where n.nspname = any(%s) and c.conrelid <> 0 and c.contype in ('f', 'c') and c.conparentid = 0
           order by 2, 3""", (list(CONSTRAINT_SCHEMAS),)).fetchall()
    for _, table, name, contype, valid, definition, parent, cols, pcols in rows:
        t = sql.SQL(table)  # regclass text: already quoted as needed
        if not valid:
            out.append(f"{table}.{name} is NOT VALID")
        if contype == "f":
            notnull = sql.SQL(" and ").join(sql.SQL("c.{} is not null").format(sql.Identifier(x)) for x in cols)
            match = sql.SQL(" and ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc))
                                          for cc, pc in zip(cols, pcols))
            n = conn.execute(sql.SQL(
                "select count(*) from {t} c where {nn} and not exists (select 1 from {p} p where {m})").format(
                t=t, nn=notnull, p=sql.SQL(parent), m=match)).fetchone()[0]
            if n:
                out.append(f"{table}.{name}: {n} rows without a parent in {parent}")
        else:
            expr = re.sub(r"\s+NOT VALID$", "", definition)
            expr = expr[len("CHECK "):] if expr.startswith("CHECK ") else expr
            n = conn.execute(sql.SQL("select count(*) from {} where not ({})").format(t, sql.SQL(expr))).fetchone()[0]
            if n:
                out.append(f"{table}.{name}: {n} rows where the CHECK is false")
    for (idx,) in conn.execute(
            """select c.oid::regclass::text from pg_index i join pg_class c on c.oid = i.indexrelid
               join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s) and not i.indisvalid""",
            (list(CONSTRAINT_SCHEMAS),)).fetchall():
        out.append(f"index {idx} is invalid")
    conn.rollback()
    return out


def legacy_counts(conn, schema: str = LEGACY_SCHEMA) -> dict[str, int]:
    cat = legacy_columns(conn, schema)
    return {t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, t))).fetchone()[0]
            for t in sorted(cat) if t in staged_table_names()}


def accounting_violations(conn, counts: dict[str, int], result=None) -> list[str]:
    """Legacy rows = staged rows + staging rejects, per staged table; every reconciliation check of
    the run passed; every spec reconciles now (engine.reconcile over SPECS)."""
    from hms_pipeline.engine.reconcile import reconcile
    from hms_pipeline.engine.scripted import reconcile_script

    out = []
    done = None if result is None or result.success else set(materializations(result))
    if done is not None and "etl/legacy_snapshot" not in done:
        counts = {}  # nothing staged this run: the staging figures say nothing
    for table, n in counts.items():
        if conn.execute("select to_regclass(%s) is null", (f"stg.{table}",)).fetchone()[0]:
            out.append(f"{table}: {n} legacy rows, not staged")
            continue
        staged = conn.execute(sql.SQL("select count(*) from {} where not _deleted").format(
            sql.Identifier("stg", table))).fetchone()[0]
        rejected = conn.execute("select count(*) from etl.stage_rejects where legacy_table = %s", (table,)).fetchone()[0]
        if staged + rejected != n:
            out.append(f"{table}: {n} legacy rows but {staged} staged + {rejected} rejected by staging")
    conn.rollback()
    if result is not None:
        out += [f"check {e.asset_key.to_user_string()}:reconciliation failed: {e.description}"
                for e in result.get_asset_check_evaluations() if e.check_name == "reconciliation" and not e.passed]
    for spec in all_specs():
        if done is not None and f"{spec.schema}/{spec.table}" not in done:
            continue  # not materialized by a failed run (its step failed or was skipped): reported as such
        try:
            recon = reconcile_script(conn, spec) if spec.kind == "script" else reconcile(conn, spec)
        except psycopg.Error as e:
            conn.rollback()
            out.append(f"reconcile({spec.name}) raised {type(e).__name__}")
            continue
        out += [f"{spec.name}: {p}" for p in recon.problems()]
    return out


@dataclass
class Outcome:
    descriptions: list[str]
    violations: list[tuple[type, str]]
    seconds: float
    phi_needles: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    # the PHI findings themselves (their samples are values: for local debugging only, never printed)
    phi_findings: list = field(default_factory=list, repr=False)

    def raise_if_violated(self) -> None:
        if self.violations:
            first = self.violations[0][0]
            lines = [f"[{cls.invariant}] {msg}" for cls, msg in self.violations]
            raise first("\n".join(lines))


def _canonical(mats: dict) -> dict:
    return {k: v for k, v in mats.items() if k.startswith(CANONICAL_ASSET_PREFIXES) and k not in RERUN_EXEMPT}


def check_case(server_url: str, case: HostileCase, *, suites: bool = False, report: bool = False,
               note: Callable[[str], None] = lambda s: None, rerun: bool = True, order: bool = True,
               prepared: Callable | None = None, separate_legacy: bool = False) -> Outcome:
    """Build the example's databases, run the backfill, check the invariants; returns the
    :class:`Outcome` (``raise_if_violated`` raises the first violated invariant's exception with
    every violation listed). ``prepared(url)`` may edit the legacy base after the mutations (the
    hand-written regression tests use it for content the abstract mutations do not express).
    ``separate_legacy``: the legacy tables in a database of their own (``HMS_LEGACY_DATABASE_URL``:
    staging COPYs them from a read-only snapshot there) instead of the canonical database."""
    from backfill_helpers import fingerprint
    from hms_pipeline.legacy.generator import generate
    from hms_pipeline.quality.phi import scan_for_phi, scan_text
    from hms_pipeline.sqlrun import apply_ddl

    started = time.perf_counter()
    timings: dict[str, float] = {}
    last = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - last[0]
        last[0] = now

    violations: list[tuple[type, str]] = []
    made: list[str] = []
    db = create_db(server_url)
    made.append(db)
    legacy = db
    if separate_legacy:
        legacy = create_db(server_url, "hxl")
        made.append(legacy)
    other = other_legacy = None
    work = tempfile.mkdtemp(prefix="hx-")
    try:
        with psycopg.connect(db) as conn:
            apply_ddl(conn)
            constraints, indexes = constraint_catalog(conn), index_catalog(conn)
        lap("ddl")
        generate(legacy, scale=case.scale, seed=case.seed, profile=case.profile)
        lap("generate")
        with psycopg.connect(legacy) as conn:
            loosen(conn)
            conn.commit()
            descriptions = Applier(conn).apply_all(case.mutations)
            conn.commit()
        if prepared is not None:
            descriptions.append(f"prepared: {prepared(legacy) or prepared.__name__}")
        for d in descriptions:
            note(d)
        with psycopg.connect(legacy) as conn:
            counts = legacy_counts(conn)
            needles = phi_needles(conn)
        lap("mutate")
        if order:
            other_legacy = clone_reordered(server_url, legacy, case.order, case.salt)
            made.append(other_legacy)
            other = other_legacy
            if separate_legacy:
                other = create_db(server_url)
                made.append(other)
                with psycopg.connect(other) as conn:
                    apply_ddl(conn)
        lap("reorder")
        sep = legacy if separate_legacy else None
        first = run_backfill(db, work, suites=suites, report=report, legacy_url=sep)
        lap("backfill")
        runs = [("run", first)]
        failures = step_failures(first.result)
        checks = failed_checks(first.result)
        if failures or checks or not first.result.success:
            violations.append((RunFailed, "; ".join(failures + checks) or "run not successful"))
        with psycopg.connect(db) as conn:
            acc = accounting_violations(conn, counts, first.result)
            if acc:
                more = f" (+{len(acc) - 12} more)" if len(acc) > 12 else ""
                violations.append((RowsNotAccounted, "; ".join(acc[:12]) + more))
            bad = constraint_violations(conn, constraints, indexes)
            if bad:
                violations.append((ConstraintViolated, "; ".join(bad[:12])))
        lap("accounting+constraints")
        ok = first.result.success and not failures
        if ok and (rerun or order):
            fp = fingerprint(db)
        if ok and rerun:
            second = run_backfill(db, work, suites=False, legacy_url=sep)
            runs.append(("re-run", second))
            problems = [f"re-run: {f}" for f in step_failures(second.result) + failed_checks(second.result)]
            wrote = {k: (v.get("rows_written", 0), v.get("rows_soft_deleted", 0))
                     for k, v in _canonical(materializations(second.result)).items()
                     if v.get("rows_written", 0) or v.get("rows_soft_deleted", 0)}
            problems += [f"{k} loaded {a}, soft-deleted {b}" for k, (a, b) in sorted(wrote.items())]
            changed = sorted(k for k, v in fingerprint(db).items() if fp.get(k) != v)
            problems += [f"canonical rows changed by the re-run: {', '.join(changed)}"] if changed else []
            if problems:
                violations.append((RerunWrote, "; ".join(problems)))
            lap("re-run")
        if ok and order:
            third = run_backfill(other, work, suites=False,
                                 legacy_url=other_legacy if separate_legacy else None)
            runs.append(("reordered", third))
            problems = [f"reordered copy: {f}" for f in step_failures(third.result) + failed_checks(third.result)]
            if not problems:
                fo = fingerprint(other)
                diff = sorted(k for k in set(fp) | set(fo) if fp.get(k) != fo.get(k))
                if diff:
                    problems.append("tables differing (rows, md5) between the two physical orders: " + ", ".join(
                        f"{k} {fp.get(k, (0,))[0]}/{fo.get(k, (0,))[0]} rows" for k in diff))
            if problems:
                violations.append((OrderDependent, "; ".join(problems)))
            lap("reordered run")

        findings = []
        for label, r in runs:
            findings += scan_text(r.events, f"{label} event log", needles)
            # (needles only: third-party DEBUG records quote example URLs and e-mail addresses of their docs)
            findings += scan_text(r.logs, f"{label} python log", needles, patterns=False)
            if r.report_dir:
                findings += scan_for_phi([r.report_dir], needles=needles)
        if report and first.report_dir is None:
            violations.append((PhiLeaked, "no report was written for the run"))
        if findings:
            kinds = sorted({f"{f.where.split('/')[-1] if '/' in f.where else f.where}: {f.kind}" for f in findings})
            violations.append((PhiLeaked, f"{len(findings)} finding(s): " + "; ".join(kinds[:10])))
        lap("phi scan")
        return Outcome(descriptions, violations, time.perf_counter() - started, len(needles), timings, findings)
    finally:
        for url in made:
            drop_db(server_url, url)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def hostile_property(server_url: str, case: HostileCase, *, suites: bool = False, report: bool = False,
                     note: Callable[[str], None] | None = None) -> Outcome:
    """The property: :func:`check_case`, raising the first violated invariant."""
    outcome = check_case(server_url, case, suites=suites, report=report, note=note or (lambda s: None))
    outcome.raise_if_violated()
    return outcome


def describe(case: HostileCase) -> str:
    """A compact, reproducible rendering of a case (for the bench's output)."""
    muts = ",\n    ".join(repr(m) for m in case.mutations)
    return (f"HostileCase(profile={case.profile!r}, seed={case.seed}, scale={case.scale}, order={case.order!r}, "
            f"salt={case.salt}, mutations=[\n    {muts}])")

