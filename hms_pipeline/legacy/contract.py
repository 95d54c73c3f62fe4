"""The legacy fixture contract: a strict parser and the legacy DDL rendered from it.

``FIXTURE_CONTRACT.md`` (vendored next to this module; the authoritative copy lives in the shared
folder) fixes one shape per legacy table in a small line grammar described at its top. This module
parses that grammar into dataclasses, refusing anything it does not understand (a
:class:`ContractError` names the line), and renders the two legacy DDL profiles:

- ``live``: the database as it is after the 2026-02-15 audit fixes. ``blueprint+live`` blocks are
  tables, ``payment_ledger`` (a ``base`` block) is a table, the ``live-view-over`` names are views
  ``select * from <base>``, and ``blueprint-only`` ghosts do not exist.
- ``blueprint``: the world the migration blueprint's mapping describes. Every name it maps is a
  table, the ``live-view-over`` names included (with the view's column list and no constraints);
  ``payment_ledger`` does not exist (it was created on 2026-02-15 and is not one of the 43).

The rendered SQL uses unqualified names; :mod:`hms_pipeline.legacy.schema` sets ``search_path``.

    python -m hms_pipeline.legacy.contract write-sql   # regenerate sql/legacy/*.sql
    python -m hms_pipeline.legacy.contract check-sql   # exit 1 if the committed files drifted
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hms_pipeline.paths import LEGACY_SQL_DIR

VENDORED_CONTRACT = Path(__file__).resolve().parent / "FIXTURE_CONTRACT.md"

PROFILE_KINDS = ("blueprint+live", "blueprint-only", "live-view-over")
PROFILES = ("live", "blueprint")

_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_RE = re.compile(
    r"^(uuid|text|varchar|varchar\(\d+\)|int|numeric|numeric\(\d+,\d+\)|date|time|timestamptz|timestamp"
    r"|boolean|jsonb|text\[\])$"
)
_DEFAULT_RE = re.compile(
    r"^(-?\d+(\.\d+)?|true|false|'[^'\s]*'|now\(\)|gen_random_uuid\(\)|CURRENT_DATE)$"
)
_NUM = r"-?\d+(?:\.\d+)?"
_RANGE_RE = re.compile(rf"^({_NUM})\.\.({_NUM})$")
_BOUND_RE = re.compile(rf"^(>=|>)({_NUM})$")
_LITERAL_RE = re.compile(r"^[^|'\s]+$")
_GENERATED_RE = re.compile(r"^generated\((\S+)\)$")
_UNIQUE_RE = re.compile(r"^unique \(([a-z0-9_, ]+)\)$")
_VIEW_SQL_RE = re.compile(r"^SELECT \* FROM public\.([a-z_][a-z0-9_]*)$")
_VOCAB_RE = re.compile(
    r"^(?P<table>[a-z_][a-z0-9_]*)\.(?P<column>[a-z_][a-z0-9_]*)(?:@(?P<domain>[a-z_][a-z0-9_]*))?"
    r" = (?P<values>.+?) \[(?P<tag>[a-z_-]+)(?::(?P<ref>[a-z_][a-z0-9_]*))?\](?: -- (?P<note>.+))?$"
)
_ENFORCEMENTS = ("check", "free", "ref_code", "documented-check")

# PostgreSQL's reserved and type/function-name keywords (pg_get_keywords() catcode R and T): such
# names are double-quoted when the DDL is rendered.
_PG_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check
    collate collation column concurrently constraint create cross current_catalog current_date
    current_role current_schema current_time current_timestamp current_user default deferrable desc
    distinct do else end except false fetch for foreign freeze from full grant group having ilike in
    initially inner intersect into is isnull join lateral leading left like limit localtime
    localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
    references returning right select session_user similar some symmetric table tablesample then to
    trailing true union unique user using variadic verbose when where window with""".split()
)


class ContractError(ValueError):
    """The contract text breaks its grammar; the message names the line."""


@dataclass(frozen=True)
class Check:
    """A column CHECK: ``kind`` is ``in`` (``values``), ``gt``/``ge`` (``lo``) or ``between``."""

    kind: str
    values: tuple[str, ...] = ()
    lo: str | None = None
    hi: str | None = None

    def spec(self) -> str:
        if self.kind == "in":
            return "|".join(self.values)
        if self.kind == "gt":
            return f">{self.lo}"
        if self.kind == "ge":
            return f">={self.lo}"
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    pk: bool = False
    unique: bool = False
    fk: ForeignKey | None = None
    check: Check | None = None
    generated: str | None = None


@dataclass(frozen=True)
class BaseBlock:
    """A table that a view reads but which is not itself one of the contract's blocks."""

    name: str
    columns: tuple[Column, ...]
    uniques: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> Column:
        return _by_name(self.columns, name, self.name)


@dataclass(frozen=True)
class TableBlock:
    name: str
    kind: str  # blueprint+live | blueprint-only | live-view-over
    base_table: str | None
    rows_live: int | None  # None = unknown
    view_sql: str | None
    base_rows_live: int | None
    columns: tuple[Column, ...]
    uniques: tuple[tuple[str, ...], ...]
    base: BaseBlock | None
    omitted: tuple[str, ...]
    not_created: tuple[str, ...]
    note: str
    line: int

    def column(self, name: str) -> Column:
        return _by_name(self.columns, name, self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def description(self) -> str:
        """The note's first sentence."""
        return first_sentence(self.note)

    @property
    def optional_columns(self) -> tuple[str, ...]:
        """Columns the note says readers must tolerate being absent (medications' least-evidenced
        names, Decision 3); every other column of a present table is required."""
        for sentence in sentences(self.note):
            if "tolerate their absence" in sentence:
                names = set(re.findall(r"[a-z_][a-z0-9_]*", sentence))
                return tuple(c for c in self.column_names if c in names)
        return ()


@dataclass(frozen=True)
class VocabEntry:
    table: str
    column: str
    domain: str | None  # ``ref_code.code@<domain>`` lines
    values: tuple[str, ...]
    enforcement: str  # check | free | ref_code | documented-check
    ref_domain: str | None
    note: str | None
    line: int


@dataclass(frozen=True)
class Contract:
    tables: dict[str, TableBlock]  # in file order
    creation_order: tuple[tuple[str, str | None], ...]  # (name, None | 'view' | 'base')
    vocab: tuple[VocabEntry, ...]
    source: Path | None = None
    bases: dict[str, BaseBlock] = field(default_factory=dict)

    def table(self, name: str) -> TableBlock:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a table of the legacy contract") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Every relation name the contract defines, base tables included, in creation order."""
        return tuple(name for name, _ in self.creation_order)

    def relation_kind(self, name: str, profile: str) -> str:
        """``table``, ``view`` or ``absent`` for ``name`` in ``profile``."""
        check_profile(profile)
        if name in self.bases:
            return "table" if profile == "live" else "absent"
        block = self.table(name)
        if profile == "blueprint":
            return "table"
        return {"blueprint+live": "table", "blueprint-only": "absent", "live-view-over": "view"}[block.kind]

    def columns_of(self, name: str) -> tuple[Column, ...]:
        """The columns of a block or base table as the contract lists them."""
        if name in self.bases:
            return self.bases[name].columns
        return self.table(name).columns

    def uniques_of(self, name: str) -> tuple[tuple[str, ...], ...]:
        if name in self.bases:
            return self.bases[name].uniques
        return self.table(name).uniques


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown legacy profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return profile


def _by_name(columns: tuple[Column, ...], name: str, table: str) -> Column:
    for col in columns:
        if col.name == name:
            return col
    raise KeyError(f"{table} has no contract column {name!r}")


_ABBREVIATIONS = ("App.", "e.g.", "i.e.", "etc.", "vs.", "No.")


def sentences(text: str) -> list[str]:
    """Split a note into sentences without breaking at "App. C" or "e.g."."""
    out, start = [], 0
    for m in re.finditer(r"[.!?](?=\s)", text):
        head = text[start : m.end()]
        if any(head.endswith(a) for a in _ABBREVIATIONS):
            continue
        out.append(head.strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def first_sentence(text: str) -> str:
    parts = sentences(text)
    return parts[0] if parts else ""


# --------------------------------------------------------------------------------------------------
# Parsing


def _err(lineno: int, message: str, line: str | None = None) -> ContractError:
    shown = f": {line!r}" if line is not None else ""
    return ContractError(f"contract line {lineno}: {message}{shown}")


def _ident(value: str, lineno: int, what: str) -> str:
    if not _IDENT_RE.match(value):
        raise _err(lineno, f"{what} {value!r} is not a lower-case identifier")
    return value


def parse_check(spec: str, lineno: int = 0) -> Check:
    if m := _BOUND_RE.match(spec):
        return Check("gt" if m.group(1) == ">" else "ge", lo=m.group(2))
    if m := _RANGE_RE.match(spec):
        return Check("between", lo=m.group(1), hi=m.group(2))
    values = tuple(spec.split("|"))
    if not all(_LITERAL_RE.match(v) for v in values) or len(set(values)) != len(values):
        raise _err(lineno, "bad check spec", spec)
    return Check("in", values=values)


def parse_column_line(line: str, lineno: int = 0, *, view: bool = False) -> Column:
    """Parse ``<name> <type> [not null] [default X] [pk] [unique] [fk t.c] [check S] [generated(E)]``."""
    if line != line.strip() or "  " in line or "\t" in line:
        raise _err(lineno, "tokens must be separated by single spaces", line)
    tokens = line.split(" ")
    if len(tokens) < 2:
        raise _err(lineno, "a column line needs a name and a type", line)
    name = _ident(tokens[0], lineno, "column name")
    ctype = tokens[1]
    if not _TYPE_RE.match(ctype):
        raise _err(lineno, f"unknown type {ctype!r}", line)
    rest = tokens[2:]
    if view and rest:
        raise _err(lineno, "view column lines are '<name> <type>' only", line)
    attrs: dict = {}
    stage = 0  # enforce the grammar's order
    order = ["not null", "default", "pk", "unique", "fk", "check", "generated"]
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok == "not" and i + 1 < len(rest) and rest[i + 1] == "null":
            key, i = "not null", i + 2
            attrs["not_null"] = True
        elif tok == "default":
            if i + 1 >= len(rest) or not _DEFAULT_RE.match(rest[i + 1]):
                raise _err(lineno, "default takes one literal token", line)
            key, attrs["default"], i = "default", rest[i + 1], i + 2
        elif tok == "pk":
            key, attrs["pk"], i = "pk", True, i + 1
        elif tok == "unique":
            key, attrs["unique"], i = "unique", True, i + 1
        elif tok == "fk":
            target = rest[i + 1] if i + 1 < len(rest) else ""
            parts = target.split(".")
            if len(parts) != 2:
                raise _err(lineno, "fk takes <table>.<col>", line)
            attrs["fk"] = ForeignKey(_ident(parts[0], lineno, "fk table"), _ident(parts[1], lineno, "fk column"))
            key, i = "fk", i + 2
        elif tok == "check":
            if i + 1 >= len(rest):
                raise _err(lineno, "check takes a spec", line)
            key, attrs["check"], i = "check", parse_check(rest[i + 1], lineno), i + 2
        elif m := _GENERATED_RE.match(tok):
            key, attrs["generated"], i = "generated", m.group(1), i + 1
        else:
            raise _err(lineno, f"unexpected token {tok!r}", line)
        pos = order.index(key)
        if pos < stage:
            raise _err(lineno, f"{key!r} is out of order or repeated", line)
        stage = pos + 1
    if attrs.get("generated") and attrs.get("default"):
        raise _err(lineno, "a generated column cannot have a default", line)
    return Column(name=name, type=ctype, **attrs)


def _parse_name_list(value: str, lineno: int, what: str) -> tuple[str, ...]:
    if value == "none":
        return ()
    names = tuple(v.strip() for v in value.split(","))
    for n in names:
        _ident(n, lineno, what)
    if value != ", ".join(names):
        raise _err(lineno, f"{what} must be '<col>, <col>' or 'none'", value)
    return names


def _fenced(lines: list[tuple[int, str]], pos: int, opener: re.Pattern) -> tuple[re.Match, list, int]:
    """Read a ```fenced block starting at ``pos``; return the opener match, body lines, next pos."""
    lineno, line = lines[pos]
    m = opener.match(line)
    if not m:
        raise _err(lineno, f"expected {opener.pattern!r}", line)
    body = []
    pos += 1
    while pos < len(lines) and lines[pos][1] != "```":
        body.append(lines[pos])
        pos += 1
    if pos >= len(lines):
        raise _err(lineno, "unterminated fenced block")
    return m, body, pos + 1


def _parse_columns(body: list[tuple[int, str]], view: bool, table: str):
    columns: list[Column] = []
    uniques: list[tuple[str, ...]] = []
    for lineno, line in body:
        if line.startswith("unique ("):
            m = _UNIQUE_RE.match(line)
            if not m:
                raise _err(lineno, "bad composite unique", line)
            cols = tuple(c.strip() for c in m.group(1).split(","))
            uniques.append(cols)
            continue
        if uniques:
            raise _err(lineno, "column lines must come before composite uniques", line)
        columns.append(parse_column_line(line, lineno, view=view))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ContractError(f"{table}: duplicate column names")
    for cols in uniques:
        missing = [c for c in cols if c not in names]
        if missing:
            raise ContractError(f"{table}: composite unique names unknown columns {missing}")
    if sum(c.pk for c in columns) > 1:
        raise ContractError(f"{table}: more than one pk column")
    return tuple(columns), tuple(uniques)


def _keyed(lines, pos: int, key: str, *, optional: bool = False):
    """Return (value, next pos) for a ``key: value`` line at ``pos``."""
    if pos >= len(lines):
        if optional:
            return None, pos
        raise ContractError(f"expected '{key}: ...' but the block ended")
    lineno, line = lines[pos]
    prefix = f"{key}: "
    if not line.startswith(prefix):
        if optional:
            return None, pos
        raise _err(lineno, f"expected '{key}: ...'", line)
    return line[len(prefix) :], pos + 1


def _parse_block(lines: list[tuple[int, str]]) -> TableBlock:
    head_no, head = lines[0]
    name = _ident(head[len("### public.") :], head_no, "table name")
    pos = 1
    profile, pos = _keyed(lines, pos, "profile")
    parts = profile.split(" ")
    kind = parts[0]
    if kind not in PROFILE_KINDS:
        raise _err(lines[pos - 1][0], "unknown profile kind", profile)
    base_table = None
    if kind == "live-view-over":
        if len(parts) != 2:
            raise _err(lines[pos - 1][0], "live-view-over needs a base table", profile)
        base_table = _ident(parts[1], lines[pos - 1][0], "base table")
    elif len(parts) != 1:
        raise _err(lines[pos - 1][0], "unexpected text after the profile kind", profile)
    rows, pos = _keyed(lines, pos, "rows-live")
    if rows == "unknown":
        rows_live = None
    elif rows.isdigit():
        rows_live = int(rows)
    else:
        raise _err(lines[pos - 1][0], "rows-live must be an integer or 'unknown'", rows)
    view_sql, pos = _keyed(lines, pos, "view-sql", optional=True)
    if (view_sql is None) != (kind != "live-view-over"):
        raise _err(head_no, "view-sql is required for live-view-over blocks and only there")
    if view_sql is not None:
        m = _VIEW_SQL_RE.match(view_sql)
        if not m or m.group(1) != base_table:
            raise _err(lines[pos - 1][0], f"view-sql must be 'SELECT * FROM public.{base_table}'", view_sql)
    base_rows, pos = _keyed(lines, pos, "base-rows-live", optional=True)
    if base_rows is not None and not base_rows.isdigit():
        raise _err(lines[pos - 1][0], "base-rows-live must be an integer", base_rows)
    _, body, pos = _fenced(lines, pos, re.compile(r"^```columns$"))
    columns, uniques = _parse_columns(body, kind == "live-view-over", name)
    base = None
    if pos < len(lines) and lines[pos][1].startswith("```base"):
        m, body, pos = _fenced(lines, pos, re.compile(r"^```base ([a-z_][a-z0-9_]*)$"))
        if m.group(1) != base_table:
            raise _err(lines[pos - 1][0], "a base block must define the view's base table")
        bcols, buniques = _parse_columns(body, False, m.group(1))
        base = BaseBlock(m.group(1), bcols, buniques)
    if (base_rows is not None) != (base is not None):
        raise _err(head_no, "base-rows-live goes with a base block, and only with one")
    omitted, pos = _keyed(lines, pos, "omitted")
    not_created, pos = _keyed(lines, pos, "not-created")
    note, pos = _keyed(lines, pos, "note")
    if pos != len(lines):
        raise _err(lines[pos][0], "unexpected line after note", lines[pos][1])
    return TableBlock(
        name=name,
        kind=kind,
        base_table=base_table,
        rows_live=rows_live,
        view_sql=view_sql,
        base_rows_live=int(base_rows) if base_rows is not None else None,
        columns=columns,
        uniques=uniques,
        base=base,
        omitted=_parse_name_list(omitted, lines[pos - 3][0], "omitted"),
        not_created=_parse_name_list(not_created, lines[pos - 2][0], "not-created"),
        note=note,
        line=head_no,
    )


def _section(all_lines: list[str], title: str) -> tuple[int, int]:
    """(first, end) line indexes of the body of ``## title``."""
    starts = [i for i, line in enumerate(all_lines) if line == f"## {title}"]
    if len(starts) != 1:
        raise ContractError(f"expected exactly one '## {title}' section, found {len(starts)}")
    start = starts[0] + 1
    end = next((i for i in range(start, len(all_lines)) if all_lines[i].startswith("## ")), len(all_lines))
    return start, end


def _parse_creation_order(all_lines: list[str]) -> tuple[tuple[str, str | None], ...]:
    start, end = _section(all_lines, "Creation order")
    body = [line for line in all_lines[start:end] if line.strip()]
    if len(body) != 1 or not body[0].endswith("."):
        raise ContractError("the creation order must be one comma-separated line ending in '.'")
    order = []
    for item in body[0][:-1].split(", "):
        m = re.match(r"^([a-z_][a-z0-9_]*)(?: \((view|base)\))?$", item)
        if not m:
            raise ContractError(f"bad creation-order item {item!r}")
        order.append((m.group(1), m.group(2)))
    return tuple(order)


def _parse_vocab(all_lines: list[str]) -> tuple[VocabEntry, ...]:
    start, end = _section(all_lines, "Vocabularies")
    fences = [i for i in range(start, end) if all_lines[i] in ("```vocab", "```")]
    if len(fences) != 2 or all_lines[fences[0]] != "```vocab":
        raise ContractError("the Vocabularies section needs exactly one ```vocab block")
    entries = []
    for i in range(fences[0] + 1, fences[1]):
        line = all_lines[i]
        m = _VOCAB_RE.match(line)
        if not m:
            raise _err(i + 1, "bad vocab line", line)
        tag = m.group("tag")
        if tag not in _ENFORCEMENTS or (tag == "ref_code") != (m.group("ref") is not None):
            raise _err(i + 1, f"unknown enforcement tag {tag!r}", line)
        values = tuple(v.strip() for v in m.group("values").split("|"))
        entries.append(
            VocabEntry(
                table=m.group("table"),
                column=m.group("column"),
                domain=m.group("domain"),
                values=values,
                enforcement=tag,
                ref_domain=m.group("ref"),
                note=m.group("note"),
                line=i + 1,
            )
        )
    return tuple(entries)


def parse_contract(text: str, source: Path | None = None) -> Contract:
    """Parse the contract text; raise :class:`ContractError` on any deviation from the grammar."""
    all_lines = text.splitlines()
    start, end = _section(all_lines, "Tables")
    blocks: list[list[tuple[int, str]]] = []
    for i in range(start, end):
        line = all_lines[i]
        if line.startswith("### "):
            if not line.startswith("### public."):
                raise _err(i + 1, "table headings are '### public.<table>'", line)
            blocks.append([(i + 1, line)])
        elif line.strip():
            if not blocks:
                raise _err(i + 1, "text before the first table block", line)
            blocks[-1].append((i + 1, line))
    tables: dict[str, TableBlock] = {}
    for block in blocks:
        tb = _parse_block(block)
        if tb.name in tables:
            raise _err(tb.line, f"table {tb.name!r} is defined twice")
        tables[tb.name] = tb
    bases = {tb.base.name: tb.base for tb in tables.values() if tb.base is not None}
    contract = Contract(
        tables=tables,
        creation_order=_parse_creation_order(all_lines),
        vocab=_parse_vocab(all_lines),
        source=source,
        bases=bases,
    )
    _validate(contract)
    return contract


def _validate(contract: Contract) -> None:
    """Cross-block rules: the creation order covers every relation once, in dependency order; views
    read a relation created before them; FKs name an existing column; vocab lines name columns."""
    tables, bases = contract.tables, contract.bases
    overlap = set(tables) & set(bases)
    if overlap:
        raise ContractError(f"base blocks redefine table blocks: {sorted(overlap)}")
    order = [name for name, _ in contract.creation_order]
    if sorted(order) != sorted([*tables, *bases]) or len(set(order)) != len(order):
        missing = sorted(set([*tables, *bases]) - set(order))
        extra = sorted(set(order) - set([*tables, *bases]))
        raise ContractError(f"creation order does not list every relation once (missing {missing}, extra {extra})")
    for name, tag in contract.creation_order:
        expected = "base" if name in bases else "view" if tables[name].kind == "live-view-over" else None
        if tag != expected:
            raise ContractError(f"creation order tags {name!r} as {tag!r}, expected {expected!r}")
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        block = tables.get(name)
        if block is not None and block.kind == "live-view-over":
            base = block.base_table
            if base not in position or position[base] > position[name]:
                raise ContractError(f"view {name!r} is created before its base {base!r}")
            base_cols = [(c.name, c.type) for c in contract.columns_of(base)]
            view_cols = [(c.name, c.type) for c in block.columns]
            if base_cols != view_cols:
                raise ContractError(f"view {name!r} columns differ from its base {base!r} (SELECT *)")
        for col in contract.columns_of(name):
            if col.fk is None:
                continue
            target = col.fk.table
            if target not in position or position[target] >= position[name]:
                raise ContractError(f"{name}.{col.name} references {target!r}, not created before it")
            if target in tables and tables[target].kind == "live-view-over":
                raise ContractError(f"{name}.{col.name} references the view {target!r}")
            target_col = _by_name(contract.columns_of(target), col.fk.column, target)
            if not (target_col.pk or target_col.unique):
                raise ContractError(f"{name}.{col.name} references {target}.{target_col.name}, not a key")
            if target_col.type != col.type:
                raise ContractError(f"{name}.{col.name} and {target}.{target_col.name} differ in type")
    for entry in contract.vocab:
        if entry.table not in tables and entry.table not in bases:
            raise _err(entry.line, f"vocab names unknown table {entry.table!r}")
        _by_name(contract.columns_of(entry.table), entry.column, entry.table)


# --------------------------------------------------------------------------------------------------
# Loading


def load_contract(path: str | Path | None = None) -> Contract:
    """Parse the contract at ``path`` (default: the copy vendored in this package)."""
    path = Path(path) if path is not None else VENDORED_CONTRACT
    return parse_contract(path.read_text(encoding="utf-8"), source=path)


# --------------------------------------------------------------------------------------------------
# Rendering the DDL


def quote_ident(name: str) -> str:
    """An identifier for the rendered DDL: bare when safe, double-quoted when a keyword."""
    if not _IDENT_RE.match(name):
        raise ValueError(f"not a contract identifier: {name!r}")
    return f'"{name}"' if name in _PG_RESERVED else name


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render_check(column: str, check: Check) -> str:
    col = quote_ident(column)
    if check.kind == "in":
        return f"check ({col} in ({', '.join(_literal(v) for v in check.values)}))"
    if check.kind == "gt":
        return f"check ({col} > {check.lo})"
    if check.kind == "ge":
        return f"check ({col} >= {check.lo})"
    return f"check ({col} >= {check.lo} and {col} <= {check.hi})"


def render_column(col: Column, *, bare: bool = False) -> str:
    """One column definition. ``bare`` renders name and type only (blueprint tables for view names,
    whose contract lines carry no constraints anyway)."""
    parts = [quote_ident(col.name), col.type]
    if bare:
        return " ".join(parts)
    if col.generated:
        parts.append(f"generated always as ({col.generated}) stored")
    if col.not_null:
        parts.append("not null")
    if col.default is not None:
        parts.append(f"default {col.default}")
    if col.pk:
        parts.append("primary key")
    if col.unique:
        parts.append("unique")
    if col.fk:
        parts.append(f"references {quote_ident(col.fk.table)} ({quote_ident(col.fk.column)})")
    if col.check:
        parts.append(render_check(col.name, col.check))
    return " ".join(parts)


def _render_table(name: str, columns: tuple[Column, ...], uniques: tuple[tuple[str, ...], ...]) -> str:
    lines = [render_column(c) for c in columns]
    lines += [f"unique ({', '.join(quote_ident(c) for c in cols)})" for cols in uniques]
    body = ",\n".join(f"    {line}" for line in lines)
    return f"create table {quote_ident(name)} (\n{body}\n);"


_HEADERS = {
    "live": """\
-- Legacy HMS schema, profile "live": the database after the 2026-02-15 audit fixes (App. C).
-- blueprint+live blocks are tables; payment_ledger (the base block of payment_history) is a table;
-- appointments, medicines, billing_items and payment_history are views `select * from <base>`;
-- blueprint-only ghosts are absent.""",
    "blueprint": """\
-- Legacy HMS schema, profile "blueprint": every legacy name the migration blueprint maps is a TABLE.
-- blueprint+live and blueprint-only blocks are tables with their full contract columns. The
-- live-view-over names (appointments, medicines, billing_items, payment_history) are separate plain
-- tables with the view's column list and no constraints (e.g. medicines beside medications: two
-- drug tables to merge). payment_ledger does NOT exist here: it was created on 2026-02-15 (App. C)
-- as payment_history's base, is not one of the contract's 43 tables, and the blueprint does not
-- name it.""",
}

_PREAMBLE = """\
-- GENERATED by `python -m hms_pipeline.legacy.contract write-sql` from
-- hms_pipeline/legacy/FIXTURE_CONTRACT.md. Do not edit; regenerate (a test checks for drift).
-- Names are unqualified: the creator (hms_pipeline.legacy.schema.create_legacy_schema) sets
-- `search_path` to the legacy schema (HMS_LEGACY_SCHEMA, default public). Built-ins only
-- (gen_random_uuid() is core since PostgreSQL 13); creation follows the contract's order."""


def render_sql(contract: Contract, profile: str) -> str:
    """The legacy DDL for ``profile`` (``live`` or ``blueprint``)."""
    check_profile(profile)
    statements = []
    created: set[str] = set()
    for name in contract.names:
        kind = contract.relation_kind(name, profile)
        if kind == "absent":
            continue
        block = contract.tables.get(name)
        if kind == "view":
            statements.append(
                f"create view {quote_ident(name)} as select * from {quote_ident(block.base_table)};"
            )
        elif block is not None and block.kind == "live-view-over":
            lines = ",\n".join(f"    {render_column(c, bare=True)}" for c in block.columns)
            statements.append(f"create table {quote_ident(name)} (\n{lines}\n);")
        else:
            for col in contract.columns_of(name):
                if col.fk and col.fk.table not in created:
                    raise ContractError(
                        f"profile {profile}: {name}.{col.name} references {col.fk.table}, which this profile "
                        "does not create before it"
                    )
            statements.append(_render_table(name, contract.columns_of(name), contract.uniques_of(name)))
        created.add(name)
    return "\n\n".join([_HEADERS[profile] + "\n" + _PREAMBLE, *statements]) + "\n"


def sql_path(profile: str, sql_dir: Path = LEGACY_SQL_DIR) -> Path:
    return Path(sql_dir) / f"{check_profile(profile)}.sql"


def write_sql(contract: Contract | None = None, sql_dir: Path = LEGACY_SQL_DIR) -> list[Path]:
    contract = contract or load_contract()
    paths = []
    for profile in PROFILES:
        path = sql_path(profile, sql_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_sql(contract, profile), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["write-sql"]:
        for path in write_sql():
            print(f"wrote {path}")
        return 0
    if args == ["check-sql"]:
        contract = load_contract()
        stale = [str(sql_path(p)) for p in PROFILES if not sql_path(p).is_file()
                 or sql_path(p).read_text(encoding="utf-8") != render_sql(contract, p)]
        for path in stale:
            print(f"stale: {path} (run `python -m hms_pipeline.legacy.contract write-sql`)")
        return 1 if stale else 0
    print("usage: python -m hms_pipeline.legacy.contract write-sql | check-sql", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
