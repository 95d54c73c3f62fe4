"""Expectation suites: ``expectations/<schema>/<table>.json``, GX 1.x native suite JSON.

A suite is data a reviewer edits without Python::

    {"name": "clinical.vitals",
     "meta": {"grain": "...", "notes": "..."},
     "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "value", "min_value": 20, "max_value": 300,
                    "row_condition": {"type": "and", "conditions": [
                        {"type": "comparison", "column": {"name": "kind"}, "operator": "==", "parameter": "HEART_RATE"},
                        {"type": "nullity", "column": {"name": "deleted_at"}, "is_null": true}]}},
         "meta": {"severity": "ERROR", "why": "a heart rate outside 20-300/min is not a measurement"}}]}

Rules checked here (and by the tests for every suite in the repo):
- ``name`` is the table (``schema.table``) and matches the file's place;
- every expectation has a known GX type, ``meta.severity`` ERROR or WARN and a ``meta.why``;
- ``row_condition`` uses GX's structured conditions (the string form is deprecated in GX 1.9+);
- no ``result_format`` in kwargs (the runner asks for counts only);
- PHI columns (:data:`hms_pipeline.quality.phi.PHI_COLUMNS`) only get count-only expectations;
- ``unexpected_rows_expectation`` queries contain ``{batch}``, alias it when they JOIN and not
  otherwise (GX aliases it itself as ``subselect`` when the query has no JOIN), and may name the
  other relations they need in ``meta.requires`` (skipped, not failed, while one is absent, e.g.
  ``stg.patients`` before the first snapshot).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hms_pipeline.paths import EXPECTATIONS_DIR
from hms_pipeline.quality import gx_import
from hms_pipeline.quality.phi import PHI_COLUMNS

SEVERITIES = ("ERROR", "WARN")
# meta.severity -> GX's own failure severity (shown in Data Docs).
GX_SEVERITY = {"ERROR": "critical", "WARN": "warning"}

# Expectations whose results are counts only under the runner's result format; the only kinds
# allowed on PHI columns.
COUNT_ONLY_TYPES = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_like_pattern",
    "expect_column_value_lengths_to_be_between",
    "expect_compound_columns_to_be_unique",
})

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_RELATION_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_QUOTED_RE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_JOIN_RE = re.compile(r"\bjoin\b", re.IGNORECASE)
_BATCH_ALIAS_RE = re.compile(r"\{batch\}\s+(?:as\s+)?([a-z_][a-z0-9_]*)", re.IGNORECASE)
_NOT_ALIASES = {"where", "group", "order", "limit", "having", "join", "left", "right", "inner", "full",
                "cross", "on", "union", "except", "intersect", "window", "natural", "using"}


class SuiteError(ValueError):
    """A suite file is malformed; the message names the file and the expectation."""


@dataclass(frozen=True)
class SuiteExpectation:
    """One expectation of a suite, with the project's meta read out."""

    index: int
    type: str
    kwargs: dict[str, Any]
    severity: str
    why: str
    requires: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        kw = self.kwargs
        if "column" in kw:
            return kw["column"]
        if "column_A" in kw:
            return f"{kw['column_A']},{kw['column_B']}"
        if "column_list" in kw:
            return ",".join(kw["column_list"])
        return None

    @property
    def label(self) -> str:
        """A short, PHI-free name for reports: ``meta.name`` or a description from the kwargs."""
        if self.meta.get("name"):
            return str(self.meta["name"])
        return describe(self.type, self.kwargs)


@dataclass(frozen=True)
class Suite:
    table: str
    path: Path
    raw: dict[str, Any]
    expectations: tuple[SuiteExpectation, ...]

    @property
    def blocking(self) -> bool:
        """A suite with any ERROR expectation blocks downstream assets when one fails."""
        return any(e.severity == "ERROR" for e in self.expectations)

    def counts(self) -> dict[str, int]:
        return {s: sum(e.severity == s for e in self.expectations) for s in SEVERITIES}


# --- describing expectations ------------------------------------------------------------------------


def describe_condition(cond: Any) -> str:
    """``kind = HEART_RATE and live`` from a structured GX row condition."""
    if not cond:
        return ""
    if isinstance(cond, str):
        return cond
    t = cond.get("type")
    if t == "and":
        return " and ".join(describe_condition(c) for c in cond["conditions"])
    if t == "or":
        return "(" + " or ".join(describe_condition(c) for c in cond["conditions"]) + ")"
    if t == "nullity":
        col = cond["column"]["name"]
        if col == "deleted_at":
            return "live" if cond["is_null"] else "soft-deleted"
        return f"{col} is {'null' if cond['is_null'] else 'not null'}"
    if t == "comparison":
        op = {"==": "=", "IN": "in", "NOT_IN": "not in"}.get(cond["operator"], cond["operator"])
        p = cond["parameter"]
        p = "(" + ", ".join(map(str, p)) + ")" if isinstance(p, list) else p
        return f"{cond['column']['name']} {op} {p}"
    return str(cond)


def describe(type_: str, kwargs: dict[str, Any]) -> str:
    col = kwargs.get("column")
    short = type_.removeprefix("expect_")
    if type_ == "expect_column_values_to_not_be_null":
        text = f"{col} not null"
    elif type_ == "expect_column_values_to_be_unique":
        text = f"{col} unique"
    elif type_ == "expect_compound_columns_to_be_unique":
        text = f"({', '.join(kwargs['column_list'])}) unique"
    elif type_ == "expect_column_values_to_be_in_set":
        values = kwargs.get("value_set", [])
        shown = ", ".join(map(str, values[:8])) + (", …" if len(values) > 8 else "")
        text = f"{col} in ({shown})"
    elif type_ == "expect_column_values_to_be_between":
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        text = f"{col} {'≥ ' + str(lo) if hi is None else '≤ ' + str(hi) if lo is None else f'in {lo}..{hi}'}"
    elif type_ == "expect_column_pair_values_a_to_be_greater_than_b":
        text = f"{kwargs['column_A']} {'≥' if kwargs.get('or_equal') else '>'} {kwargs['column_B']}"
    elif type_ == "expect_column_values_to_match_regex":
        text = f"{col} matches /{kwargs.get('regex')}/"
    elif type_ == "expect_column_values_to_not_match_regex":
        text = f"{col} does not match /{kwargs.get('regex')}/"
    elif type_ == "expect_table_row_count_to_be_between":
        text = f"row count in {kwargs.get('min_value')}..{kwargs.get('max_value')}"
    elif type_ == "unexpected_rows_expectation":
        text = "custom SQL"
    else:
        text = f"{short}({col})" if col else short
    cond = describe_condition(kwargs.get("row_condition"))
    return f"{text} [{cond}]" if cond else text


# --- loading and validating ---------------------------------------------------------------------------


def suite_path(table: str, root: Path = EXPECTATIONS_DIR) -> Path:
    schema, name = table.split(".")
    return Path(root) / schema / f"{name}.json"


def suite_tables(root: Path = EXPECTATIONS_DIR) -> list[str]:
    """Tables that have a suite file, sorted."""
    return sorted(f"{p.parent.name}.{p.stem}" for p in Path(root).glob("*/*.json"))


def _known_types() -> set[str]:
    # GX registers its core expectations on import; snake_case names are the registry keys.
    gx_import.ready()
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    return set(list_registered_expectation_implementations())


def _check_query(where: str, query: str) -> list[str]:
    problems = []
    if "{batch}" not in query:
        problems.append(f"{where}: unexpected_rows_query must select from {{batch}}")
        return problems
    bare = _QUOTED_RE.sub(" ", query)
    has_join = bool(_JOIN_RE.search(bare))
    aliases = [m.group(1).lower() for m in _BATCH_ALIAS_RE.finditer(bare)]
    aliased = [a for a in aliases if a not in _NOT_ALIASES]
    n_batch = bare.count("{batch}")
    if has_join and len(aliased) < n_batch:
        problems.append(f"{where}: the query has a JOIN, so every {{batch}} needs an alias ({{batch}} b)")
    if not has_join and aliased:
        problems.append(f"{where}: without a JOIN GX aliases {{batch}} as 'subselect' itself; "
                        f"remove the alias {aliased[0]!r} (or refer to subselect.<column>)")
    if ";" in bare.rstrip().rstrip(";"):
        problems.append(f"{where}: one statement only")
    return problems


def validate_raw(raw: Any, table: str, where: str = "", known_types: set[str] | None = None) -> list[str]:
    """Problems of one suite document (empty list = valid)."""
    where = where or table
    if not isinstance(raw, dict):
        return [f"{where}: a suite is a JSON object"]
    problems = []
    if raw.get("name") != table:
        problems.append(f"{where}: name must be {table!r} (the file's schema/table), got {raw.get('name')!r}")
    exps = raw.get("expectations")
    if not isinstance(exps, list) or not exps:
        return problems + [f"{where}: 'expectations' must be a non-empty list"]
    known = known_types if known_types is not None else _known_types()
    phi = PHI_COLUMNS.get(table, frozenset())
    for i, e in enumerate(exps):
        at = f"{where} expectation #{i + 1}"
        if not isinstance(e, dict):
            problems.append(f"{at}: must be an object")
            continue
        t = e.get("type")
        kwargs = e.get("kwargs")
        meta = e.get("meta") or {}
        if t not in known:
            problems.append(f"{at}: unknown expectation type {t!r}")
        if not isinstance(kwargs, dict):
            problems.append(f"{at}: 'kwargs' must be an object")
            continue
        if meta.get("severity") not in SEVERITIES:
            problems.append(f"{at}: meta.severity must be ERROR or WARN, got {meta.get('severity')!r}")
        if not str(meta.get("why") or "").strip():
            problems.append(f"{at}: meta.why must say why the rule matters")
        if "severity" in e and e["severity"] != GX_SEVERITY.get(meta.get("severity")):
            problems.append(f"{at}: top-level severity {e['severity']!r} contradicts meta.severity; "
                            "leave it out (it is derived from meta.severity)")
        for bad in ("result_format", "catch_exceptions", "include_config"):
            if bad in kwargs:
                problems.append(f"{at}: kwargs.{bad} is set by the runner, not the suite")
        if isinstance(kwargs.get("row_condition"), str) or "condition_parser" in kwargs:
            problems.append(f"{at}: use a structured row_condition "
                            "({'type': 'comparison'|'nullity'|'and'|'or', ...}); the string form is deprecated")
        cols = {kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *kwargs.get("column_list", [])}
        if t not in COUNT_ONLY_TYPES and cols & phi:
            problems.append(f"{at}: {t} on PHI column(s) {sorted(cols & phi)} could report a value; "
                            "only count-only expectations are allowed on PHI columns")
        for rel in meta.get("requires", []) or []:
            if not _RELATION_RE.match(str(rel)):
                problems.append(f"{at}: meta.requires entries are schema.table names, got {rel!r}")
        if t == "unexpected_rows_expectation":
            q = kwargs.get("unexpected_rows_query")
            if not str(meta.get("name") or "").strip():
                problems.append(f"{at}: custom SQL needs a short meta.name for reports")
            if not isinstance(q, str) or not q.strip():
                problems.append(f"{at}: unexpected_rows_query is required")
            else:
                problems += _check_query(at, q)
    return problems


def parse_suite(raw: dict[str, Any], table: str, path: Path) -> Suite:
    exps = []
    for i, e in enumerate(raw["expectations"]):
        meta = dict(e.get("meta") or {})
        exps.append(SuiteExpectation(
            index=i,
            type=e["type"],
            kwargs=dict(e["kwargs"]),
            severity=meta["severity"],
            why=str(meta["why"]).strip(),
            requires=tuple(meta.get("requires") or ()),
            meta=meta,
        ))
    return Suite(table=table, path=path, raw=raw, expectations=tuple(exps))


def load_suite(table: str, root: Path = EXPECTATIONS_DIR, *, validate: bool = True) -> Suite:
    """Read and validate ``expectations/<schema>/<table>.json``; raise :class:`SuiteError`."""
    if not _NAME_RE.match(table):
        raise SuiteError(f"{table!r} is not a schema.table name")
    path = suite_path(table, root)
    if not path.is_file():
        raise SuiteError(f"no suite for {table}: {path} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from exc
    if validate:
        problems = validate_raw(raw, table, str(path))
        if problems:
            raise SuiteError("\n".join(problems))
    return parse_suite(raw, table, path)


def load_all_suites(root: Path = EXPECTATIONS_DIR) -> dict[str, Suite]:
    return {t: load_suite(t, root) for t in suite_tables(root)}


def to_gx_suite(suite: Suite, skip: set[int] = frozenset()):
    """The GX ``ExpectationSuite`` (expectations at ``skip`` indexes left out). Each expectation's
    meta carries ``_index`` so results map back to the file's order."""
    gx_import.ready()
    from great_expectations.core.expectation_suite import ExpectationSuite

    expectations = []
    for e in suite.expectations:
        if e.index in skip:
            continue
        expectations.append({
            "type": e.type,
            "kwargs": dict(e.kwargs),
            "meta": {**e.meta, "_index": e.index},
            "severity": GX_SEVERITY[e.severity],
        })
    return ExpectationSuite(name=suite.table, expectations=expectations, meta=dict(suite.raw.get("meta") or {}))


# --- row rules for the engine's pre-flight ------------------------------------------------------------

# Row-level expectation types the engine's pre-flight checks on the rows about to be written.
PREFLIGHT_TYPES = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_pair_values_a_to_be_greater_than_b",
})
_COMPARISON_OPERATORS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Always:
    """A row condition every candidate row meets (``deleted_at is null``: candidates are live rows)."""


class _Never:
    """A row condition no candidate row meets (``deleted_at is not null``)."""


def _rule_condition(cond: Any, columns: set[str]):
    """A structured GX row condition as SQL over the candidate row (``_Always``/``_Never`` when it is
    decided by ``deleted_at`` alone; None when it cannot be translated). Columns read go to
    ``columns``; values are literals composed by psycopg, never formatted in."""
    from psycopg import sql

    if not cond:
        return _Always
    if not isinstance(cond, dict):
        return None
    kind = cond.get("type")
    if kind in ("and", "or"):
        parts = [_rule_condition(c, columns) for c in cond.get("conditions") or []]
        if any(p is None for p in parts):
            return None
        decisive, neutral = (_Never, _Always) if kind == "and" else (_Always, _Never)
        if any(p is decisive for p in parts):
            return decisive
        parts = [p for p in parts if p is not neutral]
        if not parts:
            return neutral
        joiner = sql.SQL(" and " if kind == "and" else " or ")
        return sql.SQL("({})").format(joiner.join(parts))
    column = (cond.get("column") or {}).get("name")
    if not column:
        return None
    if kind == "nullity":
        if column == "deleted_at":
            return _Always if cond.get("is_null") else _Never
        columns.add(column)
        return sql.SQL("{} is null" if cond.get("is_null") else "{} is not null").format(sql.Identifier(column))
    if kind == "comparison":
        if column == "deleted_at":
            return _Never  # NULL on every candidate: a comparison is never true
        op, value = cond.get("operator"), cond.get("parameter")
        columns.add(column)
        c = sql.Identifier(column)
        if op in ("IN", "NOT_IN"):
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if not values:
                return _Never if op == "IN" else sql.SQL("{} is not null").format(c)
            listed = sql.SQL(", ").join(sql.Literal(v) for v in values)
            return sql.SQL("{} {} ({})").format(c, sql.SQL("in" if op == "IN" else "not in"), listed)
        if op in _COMPARISON_OPERATORS:
            return sql.SQL("{} {} {}").format(c, sql.SQL(_COMPARISON_OPERATORS[op]), sql.Literal(value))
    return None


def _rule_violation(e: SuiteExpectation, columns: set[str]):
    """SQL that is TRUE when a row violates ``e`` (GX semantics: NULLs are not checked except by
    not_be_null), or None when ``e`` is not a row rule the pre-flight can check."""
    from psycopg import sql

    kw = e.kwargs
    ident = sql.Identifier
    if e.type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kw.get("column_A"), kw.get("column_B")
        if not a or not b:
            return None
        columns.update((a, b))
        ignore = kw.get("ignore_row_if", "both_values_are_missing")
        skip = {"both_values_are_missing": "({a} is null and {b} is null)",
                "either_value_is_missing": "({a} is null or {b} is null)", "neither": "false"}.get(ignore)
        if skip is None:
            return None
        op = ">=" if kw.get("or_equal") else ">"
        return sql.SQL("not " + skip + " and not coalesce({a} " + op + " {b}, false)").format(a=ident(a), b=ident(b))
    column = kw.get("column")
    if not column:
        return None
    columns.add(column)
    c = ident(column)
    if e.type == "expect_column_values_to_not_be_null":
        return sql.SQL("{} is null").format(c)
    if e.type == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        tests = []
        if lo is not None:
            tests.append(sql.SQL("{} {} {}").format(c, sql.SQL("<=" if kw.get("strict_min") else "<"), sql.Literal(lo)))
        if hi is not None:
            tests.append(sql.SQL("{} {} {}").format(c, sql.SQL(">=" if kw.get("strict_max") else ">"), sql.Literal(hi)))
        if not tests:
            return None
        return sql.SQL("{} is not null and ({})").format(c, sql.SQL(" or ").join(tests))
    if e.type == "expect_column_values_to_be_in_set":
        values = list(kw.get("value_set") or [])
        if not values:
            return sql.SQL("{} is not null").format(c)
        return sql.SQL("{} is not null and {} not in ({})").format(
            c, c, sql.SQL(", ").join(sql.Literal(v) for v in values))
    if e.type in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        regex = kw.get("regex")
        if not isinstance(regex, str):
            return None
        negate = sql.SQL("not " if e.type == "expect_column_values_to_match_regex" else "")
        return sql.SQL("{} is not null and {}(cast({} as text) ~ {})").format(c, negate, c, sql.Literal(regex))
    return None


def preflight_rules(suite: Suite):
    """The suite's row-level ERROR expectations as rules for the engine's constraint pre-flight
    (:class:`hms_pipeline.engine.preflight.RowRule`: name, SQL predicate over the candidate row that
    is TRUE when the row violates the expectation, and the columns it reads).

    Translated: not_be_null, be_between (min/max, strict flags), be_in_set, match_regex /
    not_match_regex (Postgres ``~``), column_pair a > b (or_equal, ignore_row_if), each within its
    structured ``row_condition``; a condition clause ``deleted_at is null`` holds for every candidate
    (they are live rows) and a rule only for soft-deleted rows is left out. Not row rules (left out):
    custom SQL, uniqueness, row counts, WARN expectations, and ``mostly`` below 1. The engine skips a
    rule that reads a column its candidates lack.

    Name: the expectation's ``meta.name``, else ``<type>:<column>``; when two rules of the suite
    would share a name, the row condition is appended (``... [txn_type = GRN]``), else ``#<n>``."""
    from hms_pipeline.engine.preflight import RowRule
    from psycopg import sql

    candidates = []
    for e in suite.expectations:
        if e.severity != "ERROR" or e.type not in PREFLIGHT_TYPES:
            continue
        mostly = e.kwargs.get("mostly")
        if mostly is not None and float(mostly) < 1:
            continue
        columns: set[str] = set()
        scope = _rule_condition(e.kwargs.get("row_condition"), columns)
        if scope is None or scope is _Never:
            continue
        violation = _rule_violation(e, columns)
        if violation is None:
            continue
        predicate = violation if scope is _Always else sql.SQL("{} and ({})").format(scope, violation)
        name = str(e.meta.get("name") or f"{e.type}:{e.column}")
        candidates.append((name, e, predicate, frozenset(columns)))
    counts: dict[str, int] = {}
    for name, *_ in candidates:
        counts[name] = counts.get(name, 0) + 1
    rules, used = [], set()
    for name, e, predicate, columns in candidates:
        if counts[name] > 1:
            cond = describe_condition(e.kwargs.get("row_condition"))
            name = f"{name} [{cond}]" if cond and f"{name} [{cond}]" not in used else f"{name}#{e.index + 1}"
        used.add(name)
        rules.append(RowRule(name, predicate, columns))
    return rules
