"""Conservation checks: identities of money and stock a table must keep, computed in SQL.

A canonical table declares them as files beside its transform: every ``*.sql`` file in
``sql/<schema>/<table>.checks/`` is one check named by its file (``stock_per_batch.sql`` ->
``conservation_stock_per_batch``). The file is one SELECT returning one row per *subject* (a legacy
row, an (item, batch), a patient...) with the columns

* ``subject`` (text): the subject's key, a surrogate (a uuid or a legacy id), never a value of a row;
* ``expected`` (numeric): what the legacy data says (after the documented corrections);
* ``actual`` (numeric): what the canonical tables hold.

A subject whose ``expected`` is distinct from ``actual`` (NULL on one side only included) violates
the identity. The file's leading ``--`` comment is the check's description. The factory attaches
each as a blocking ERROR check of the table's asset, with its figures in the check's metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.sqlrun import read_sql

SAMPLE = 10  # violating subjects named in the metadata


@dataclass
class ConservationResult:
    name: str
    subjects: int = 0
    violations: int = 0
    expected_total: Decimal = Decimal(0)
    actual_total: Decimal = Decimal(0)
    sample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def summary(self) -> str:
        text = (f"{self.subjects} subjects, {self.violations} violating; expected total {self.expected_total}, "
                f"actual total {self.actual_total}")
        if self.sample:
            text += "; first violating subjects: " + ", ".join(self.sample)
        return text


def check_files(spec: TableSpec) -> list[Path]:
    """The table's conservation check files (``sql/<schema>/<table>.checks/*.sql``), by name."""
    folder = spec.sql_path.with_suffix(".checks")
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def check_name(path: Path) -> str:
    return f"conservation_{path.stem}"


def description(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return " ".join(lines) or check_name(path)


_WRAP = """
with c as ({body})
select count(*), count(*) filter (where c.expected is distinct from c.actual),
       coalesce(sum(c.expected), 0), coalesce(sum(c.actual), 0),
       (array_agg(c.subject::text order by c.subject::text) filter (where c.expected is distinct from c.actual))[1:{n}]
from c
"""


def run_check(conn: psycopg.Connection, path: Path) -> ConservationResult:
    body = read_sql(path).strip().rstrip(";")
    row = conn.execute(sql.SQL(_WRAP).format(body=sql.SQL(body), n=sql.Literal(SAMPLE))).fetchone()
    return ConservationResult(check_name(path), subjects=row[0], violations=row[1], expected_total=row[2],
                              actual_total=row[3], sample=list(row[4] or []))


def run_checks(conn: psycopg.Connection, spec: TableSpec) -> list[ConservationResult]:
    return [run_check(conn, p) for p in check_files(spec)]


__all__ = ["ConservationResult", "check_files", "check_name", "description", "run_check", "run_checks"]
