"""Legacy rows and values that staging could not stage as they are, accounted for by every canonical
table that consumes them (see :mod:`hms_pipeline.engine.staging` and ``sql/ddl/095_staging_guards.sql``).

- A legacy row whose key is NULL, or that repeats another row's key (a table that lost its PK), is
  kept out of ``stg`` and listed in ``etl.stage_rejects``. Each canonical table consuming that legacy
  table quarantines it (``NULL_KEY`` / ``DUPLICATE_LEGACY_KEY``, the survivor's key in ``detail``),
  and its reconciliation counts it as seen and quarantined: none disappears, none loads twice.
- A value of a column whose type drifted from the contract that does not parse is staged as NULL and
  listed in ``etl.stage_unparseable``. The canonical tables whose transform reads that column
  quarantine the value (``UNPARSEABLE_VALUE``, legacy key ``<key>#<column>``); the row loads.

Nothing here carries a value from a row: keys are surrogates or hashes, and ``detail`` names the
column and the rule.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.engine.spec import TableSpec

ROW_REASONS = ("NULL_KEY", "DUPLICATE_LEGACY_KEY")
DRIFT_RULE = "TYPE_DRIFT"


def consumed_sources(spec: TableSpec) -> list[str]:
    """The legacy tables whose rows the table accounts for (a trigger-only source, consumes 'false',
    is not one of them)."""
    return [s.legacy_table for s in spec.sources if (s.consumes or "true").strip().lower() != "false"]


@functools.cache
def _words(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z_][a-z0-9_]*", path.read_text(encoding="utf-8").lower()))


def _transform_words(spec: TableSpec) -> frozenset[str]:
    """The words of the table's transform: a drifted column it never names is not its concern."""
    return _words(spec.sql_path)


_QUARANTINE_ROWS = """
insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id,
                            first_seen_at, last_seen_at)
select r.legacy_table, r._key, %(t)s, r.reason,
       jsonb_strip_nulls(jsonb_build_object(
           'rule', case r.reason when 'NULL_KEY' then 'legacy key is NULL: keyed by a hash of the row'
                                 else 'legacy key repeated: the copy whose row hash sorts first is staged' end,
           'survivor_key', r.survivor_key)),
       %(run)s, now(), now()
from etl.stage_rejects r
where r.legacy_table = any(%(sources)s)
on conflict (legacy_table, legacy_key, target_table, reason_code) do update
set resolved_at = null, last_seen_at = now(), run_id = excluded.run_id, detail = excluded.detail
where ops.quarantine.resolved_at is not null or ops.quarantine.detail is distinct from excluded.detail
"""

_RESOLVE_ROWS = """
update ops.quarantine q set resolved_at = now(), run_id = %(run)s
where q.target_table = %(t)s and q.reason_code = any(%(reasons)s) and q.resolved_at is null
  and not exists (select 1 from etl.stage_rejects r where r.legacy_table = q.legacy_table and r._key = q.legacy_key)
"""

_QUARANTINE_VALUES = """
insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id,
                            first_seen_at, last_seen_at)
select u.legacy_table, u._key || '#' || u.column_name, %(t)s, 'UNPARSEABLE_VALUE',
       jsonb_build_object('rule', %(rule)s::text, 'column', u.column_name, 'expected_type', u.contract_type),
       %(run)s, now(), now()
from etl.stage_unparseable u
join {stg} s on s._key = u._key and not s._deleted
where u.legacy_table = %(src)s and u.column_name = any(%(columns)s)
on conflict (legacy_table, legacy_key, target_table, reason_code) do update
set resolved_at = null, last_seen_at = now(), run_id = excluded.run_id
where ops.quarantine.resolved_at is not null
"""

_RESOLVE_VALUES = """
update ops.quarantine q set resolved_at = now(), run_id = %(run)s
where q.target_table = %(t)s and q.reason_code = 'UNPARSEABLE_VALUE' and q.resolved_at is null
  and q.detail ->> 'rule' = %(rule)s
  and not exists (
      select 1 from etl.stage_unparseable u join {stg} s on s._key = u._key and not s._deleted
      where u.legacy_table = q.legacy_table and u._key || '#' || u.column_name = q.legacy_key)
  and q.legacy_table = %(src)s
"""


def quarantine_staging_rejects(conn: psycopg.Connection, spec: TableSpec, run_id: str) -> int:
    """Quarantine (and resolve) this table's share of the staging rejects and unparseable values;
    returns the entries opened. Writes nothing when nothing changed since the last run."""
    sources = consumed_sources(spec)
    if not sources:
        return 0
    p = {"t": spec.name, "run": run_id, "sources": sources, "reasons": list(ROW_REASONS), "rule": DRIFT_RULE}
    opened = conn.execute(_QUARANTINE_ROWS, p).rowcount
    conn.execute(_RESOLVE_ROWS, p)
    drifted = dict(conn.execute(
        """select legacy_table, array_agg(distinct column_name) from etl.stage_unparseable
           where legacy_table = any(%s) group by 1""", (sources,)).fetchall())
    words = _transform_words(spec)
    for src in sources:
        if conn.execute("select to_regclass(%s) is null", (f"stg.{src}",)).fetchone()[0]:
            continue
        stg = sql.Identifier("stg", src)
        columns = [c for c in drifted.get(src, []) if c in words]
        if columns:
            opened += conn.execute(sql.SQL(_QUARANTINE_VALUES).format(stg=stg), {**p, "src": src, "columns": columns}).rowcount
        conn.execute(sql.SQL(_RESOLVE_VALUES).format(stg=stg), {**p, "src": src})
    return opened


def reject_figures(conn: psycopg.Connection, spec: TableSpec, legacy_table: str) -> tuple[int, int]:
    """(rejected legacy rows of ``legacy_table``, of which quarantined for this table): the rows
    reconciliation adds to what the staged copy shows."""
    if legacy_table not in consumed_sources(spec):
        return 0, 0
    return tuple(int(v) for v in conn.execute(
        """select count(*), count(q.legacy_key) from etl.stage_rejects r
           left join ops.quarantine q on q.legacy_table = r.legacy_table and q.legacy_key = r._key
                and q.target_table = %s and q.reason_code = r.reason and q.resolved_at is null
           where r.legacy_table = %s""", (spec.name, legacy_table)).fetchone())
