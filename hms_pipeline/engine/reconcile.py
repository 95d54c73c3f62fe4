"""Reconciliation: every legacy row a canonical table consumes is loaded, merged or quarantined.

Per legacy source of a canonical table, over the staged snapshot (rows not deleted in legacy and
matching the source's ``consumes`` predicate):

    seen = covered by a live canonical row (LOADED or MERGED in ops.legacy_id_map)
         + covered only by an unresolved quarantine entry
    missing = seen rows with neither        -> must be 0

plus FK integrity of what was written: no live row of the table points at a soft-deleted parent
(except in an append-only table, whose rows keep the parent they were written with).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hms_pipeline.engine.rejects import reject_figures
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.transform import stage_exists, target_columns


@dataclass
class SourceFigures:
    """One legacy source's rows, in the product's one vocabulary (README "Figures"): of the legacy
    rows ``seen`` (in the snapshot, consumed by the table), each is ``loaded`` (a live canonical row
    holds it), ``merged`` (only into another legacy row's canonical row), ``quarantined`` (refused
    whole: an open quarantine entry and no canonical row) or ``missing`` (none: must be 0).
    ``values_quarantined``: loaded rows of which a value was refused (an open quarantine entry
    beside the canonical row)."""

    legacy_table: str
    seen: int
    loaded: int
    merged: int
    quarantined: int
    missing: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    values_quarantined: int = 0


@dataclass
class Reconciliation:
    table: str
    sources: list[SourceFigures]
    fk_violations: dict[str, int]

    def to_json(self) -> dict:
        return {"table": self.table, "sources": [asdict(s) for s in self.sources], "fk_violations": self.fk_violations}

    @classmethod
    def from_json(cls, d: dict) -> "Reconciliation":
        return cls(d["table"], [SourceFigures(**s) for s in d["sources"]], d["fk_violations"])

    def totals(self) -> dict[str, int]:
        """The table's figures over its sources (README "Figures")."""
        return {
            "legacy_rows_seen": sum(s.seen for s in self.sources),
            "legacy_rows_loaded": sum(s.loaded for s in self.sources),
            "legacy_rows_merged": sum(s.merged for s in self.sources),
            "legacy_rows_quarantined": sum(s.quarantined for s in self.sources),
            "values_quarantined": sum(s.values_quarantined for s in self.sources),
            "legacy_rows_missing": sum(s.missing for s in self.sources),
        }

    @property
    def ok(self) -> bool:
        return all(s.missing == 0 for s in self.sources) and not any(self.fk_violations.values())

    def problems(self) -> list[str]:
        out = [f"{s.legacy_table}: {s.missing} of {s.seen} legacy rows neither loaded, merged nor quarantined"
               for s in self.sources if s.missing]
        out += [f"{fk}: {n} live rows point at a soft-deleted parent" for fk, n in self.fk_violations.items() if n]
        return out

    def markdown(self) -> str:
        lines = ["| legacy source | seen | loaded | merged | quarantined | missing | values quarantined |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {s.legacy_table} | {s.seen} | {s.loaded} | {s.merged} | {s.quarantined} | {s.missing} "
                  f"| {s.values_quarantined} |" for s in self.sources]
        if self.fk_violations:
            lines.append("")
            lines += [f"- FK `{fk}`: {n} live rows with a soft-deleted parent" for fk, n in self.fk_violations.items()]
        return "\n".join(lines)


_SOURCE_FIGURES = """
with seen as (
    select s._key from {stg} s where not s._deleted and ({consumes})
),
mapped as (
    select split_part(m.legacy_key, '#', 1) as k,
           bool_or(m.disposition = 'LOADED') as any_loaded
    from ops.legacy_id_map m
    join {target} t on t.{pk} = m.canonical_id {live}
    where m.legacy_table = %(src)s and m.canonical_table = %(t)s
    group by 1
),
quarantined as (
    select distinct split_part(q.legacy_key, '#', 1) as k from ops.quarantine q
    where q.legacy_table = %(src)s and q.target_table = %(t)s and q.resolved_at is null
)
select count(*),
       count(*) filter (where m.any_loaded),
       count(*) filter (where m.k is not null and not m.any_loaded),
       count(*) filter (where q.k is not null and m.k is null),
       count(*) filter (where m.k is null and q.k is null),
       count(*) filter (where q.k is not null and m.any_loaded)
from seen
left join mapped m on m.k = seen._key
left join quarantined q on q.k = seen._key
"""

_FKS = """
select a.attname, c.confrelid::regclass::text, af.attname
from pg_constraint c
join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1]
where c.conrelid = %s::regclass and c.contype = 'f' and array_length(c.conkey, 1) = 1
order by 1
"""


def reconcile_or_reuse(conn: psycopg.Connection, spec: TableSpec, run_id: str, *, idle: bool) -> Reconciliation:
    """``reconcile`` unless the table is ``idle`` this run (nothing processed for it and nothing
    written anywhere in the run) and its last reconciliation passed: then the snapshot and the
    canonical side are what they were, and so are the figures."""
    if idle:
        row = conn.execute(
            "select figures from etl.reconcile_state where canonical_table = %s and ok", (spec.name,)
        ).fetchone()
        conn.rollback()
        if row is not None:
            return Reconciliation.from_json(row[0])
    return record(conn, reconcile(conn, spec), run_id)


def record(conn: psycopg.Connection, recon: Reconciliation, run_id: str) -> Reconciliation:
    """Keep ``recon`` as the table's latest reconciliation (the report's figures are these)."""
    with conn.transaction():
        conn.execute(
            """insert into etl.reconcile_state (canonical_table, figures, ok, run_id) values (%s, %s, %s, %s)
               on conflict (canonical_table) do update set figures = excluded.figures, ok = excluded.ok,
                   run_id = excluded.run_id, evaluated_at = now()""",
            (recon.table, Jsonb(recon.to_json()), recon.ok, run_id),
        )
    return recon


def reconcile(conn: psycopg.Connection, spec: TableSpec) -> Reconciliation:
    columns, pk = target_columns(conn, spec.name)
    live = sql.SQL("and t.deleted_at is null") if "deleted_at" in columns else sql.SQL("")
    schema, table = spec.name.split(".")
    target = sql.Identifier(schema, table)
    figures = []
    for src in spec.sources:
        if not stage_exists(conn, src.legacy_table):
            continue
        query = sql.SQL(_SOURCE_FIGURES).format(
            stg=sql.Identifier("stg", src.legacy_table),
            consumes=sql.SQL(src.consumes or "true"),
            target=target,
            pk=sql.Identifier(pk),
            live=live,
        )
        seen, loaded, merged, quarantined, missing, values = (int(v) for v in conn.execute(
            query, {"src": src.legacy_table, "t": spec.name}
        ).fetchone())
        # rows staging kept out of stg (NULL or repeated key): seen, and quarantined by this table
        rejected, rejects_quarantined = reject_figures(conn, spec, src.legacy_table)
        seen, quarantined = seen + rejected, quarantined + rejects_quarantined
        missing += rejected - rejects_quarantined
        reasons = dict(
            conn.execute(
                """select reason_code, count(*) from ops.quarantine
                   where legacy_table = %s and target_table = %s and resolved_at is null group by 1 order by 1""",
                (src.legacy_table, spec.name),
            ).fetchall()
        )
        figures.append(SourceFigures(src.legacy_table, seen, loaded, merged, quarantined, missing, reasons, values))

    fk_violations = {}
    # an append-only table (an immutable ledger) keeps the parents its rows were written with: a live
    # row pointing at a parent soft-deleted since is history, not a dangling reference
    fks = [] if spec.append_only else conn.execute(_FKS, (spec.name,)).fetchall()
    for col, parent, parent_col in fks:
        if "deleted_at" not in columns or "deleted_at" not in {r[0] for r in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0", (parent,))}:
            continue
        pschema, ptable = parent.split(".")
        n = conn.execute(
            sql.SQL(
                """select count(*) from {t} c join {p} p on p.{pc} = c.{c}
                   where c.deleted_at is null and p.deleted_at is not null"""
            ).format(t=target, p=sql.Identifier(pschema, ptable), pc=sql.Identifier(parent_col), c=sql.Identifier(col))
        ).fetchone()[0]
        fk_violations[f"{col} -> {parent}.{parent_col}"] = n
    conn.rollback()
    return Reconciliation(spec.name, figures, fk_violations)
