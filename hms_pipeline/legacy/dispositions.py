"""What happens to every legacy column: ``mappings/columns.csv`` (issue #13).

One row per (legacy table, column) of the fixture contract, with exactly one disposition:

- ``mapped``: the value fills ``target`` (``schema.table.column``) through ``transform``
  (``sql/<schema>/<table>.sql``);
- ``kept``: an attribute the canonical model has no column for, stored where nothing is lost:
  ``target`` is ``schema.table.column`` or ``schema.table.legacy_attributes->'key'`` (a jsonb
  extension store keyed by the canonical id);
- ``dropped``: nothing of it is carried; ``reason`` says why (a copy, a derived counter, ...);
- ``pending``: not carried yet and not a justified drop: a known gap, ``reason`` names the issue.

The file is plain CSV (one line per column, diffable); ``target``/``transform`` may hold several
values separated by `` | `` when a column feeds more than one canonical column. Loading checks the
shape only; ``tests/test_column_dispositions.py`` checks the entries against the contract, the
canonical DDL and a backfill.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from hms_pipeline.paths import PROJECT_ROOT

DISPOSITIONS_FILE = PROJECT_ROOT / "mappings" / "columns.csv"
DISPOSITIONS = ("mapped", "kept", "dropped", "pending")
FIELDS = ("table", "column", "disposition", "target", "transform", "reason")
_TARGET_RE = re.compile(r"^([a-z_]+)\.([a-z_0-9]+)\.([a-z_0-9]+)(?:->'([a-z_0-9]+)')?$")


@dataclass(frozen=True)
class Target:
    schema: str
    table: str
    column: str
    key: str | None = None  # a jsonb key of ``column`` (``legacy_attributes->'key'``)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    def __str__(self) -> str:
        base = f"{self.schema}.{self.table}.{self.column}"
        return base if self.key is None else f"{base}->'{self.key}'"


@dataclass(frozen=True)
class Disposition:
    table: str
    column: str
    disposition: str
    targets: tuple[Target, ...]
    transforms: tuple[str, ...]
    reason: str


def parse_target(text: str) -> Target:
    m = _TARGET_RE.match(text.strip())
    if not m:
        raise ValueError(f"bad target {text!r}: expected schema.table.column or schema.table.column->'key'")
    return Target(*m.groups())


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split("|") if p.strip())


def load_dispositions(path: Path = DISPOSITIONS_FILE) -> list[Disposition]:
    """The entries of ``path``, in file order. Raises ValueError naming the line on a malformed one."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise ValueError(f"{path}: header must be {','.join(FIELDS)}")
        for lineno, row in enumerate(reader, start=2):
            where = f"{path.name}:{lineno} ({row['table']}.{row['column']})"
            disp = row["disposition"].strip()
            if disp not in DISPOSITIONS:
                raise ValueError(f"{where}: disposition {disp!r} not one of {', '.join(DISPOSITIONS)}")
            try:
                targets = tuple(parse_target(t) for t in _split(row["target"]))
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            transforms = _split(row["transform"])
            reason = (row["reason"] or "").strip()
            if disp in ("mapped", "kept") and not (targets and transforms):
                raise ValueError(f"{where}: a {disp} column needs a target and a transform")
            if disp in ("dropped", "pending") and not reason:
                raise ValueError(f"{where}: a {disp} column needs a reason")
            if disp in ("dropped", "pending") and targets:
                raise ValueError(f"{where}: a {disp} column has no target")
            for t in transforms:
                if not (PROJECT_ROOT / t).is_file():
                    raise ValueError(f"{where}: transform {t} does not exist")
            out.append(Disposition(row["table"].strip(), row["column"].strip(), disp, targets, transforms, reason))
    return out


def summary(entries: list[Disposition] | None = None) -> dict:
    """Counts per legacy table and disposition, and the dropped/pending columns with their reasons
    (no values): what the validation report shows."""
    entries = load_dispositions() if entries is None else entries
    per_table: dict[str, Counter] = defaultdict(Counter)
    for e in entries:
        per_table[e.table][e.disposition] += 1
    totals = Counter(e.disposition for e in entries)
    return {
        "totals": {d: totals.get(d, 0) for d in DISPOSITIONS},
        "tables": {t: {d: c.get(d, 0) for d in DISPOSITIONS} for t, c in per_table.items()},
        "dropped": [{"table": e.table, "column": e.column, "reason": e.reason}
                    for e in entries if e.disposition == "dropped"],
        "pending": [{"table": e.table, "column": e.column, "reason": e.reason}
                    for e in entries if e.disposition == "pending"],
    }
