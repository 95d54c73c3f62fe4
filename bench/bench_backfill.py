"""Backfill throughput against the floor, no-change re-run time and peak memory.

    python bench/bench_backfill.py [--scale 100000] [--url URL] [--profile blueprint]

Prints, for one run on one database:
* the floor: a plain ``INSERT ... SELECT`` of the same legacy rows (the tables the phase stages,
  i.e. that some transform reads) into same-shaped indexed tables
  (``create table ... (like legacy including indexes)``), rows/s;
* the backfill phase (snapshot + every canonical table, in-process Dagster) rows/s over the same
  legacy rows, and its ratio to the floor (target >= 0.6);
* the slowest steps of the full run with their share of it, and whether every check of the run
  passed (the reconciliation and conservation identities; else the failing checks by severity);
* for reference, the output floor: a plain ``INSERT ... SELECT`` of the rows the phase wrote
  (canonical tables and the id map) into same-shaped indexed copies, so the cost of writing the
  result once can be told from the cost of deriving it;
* the canonical output floor: the same for the canonical tables alone (not the id-map partitions),
  and the full run over it (target <= 2.5, goal 1.5); the rows of ``ops.legacy_id_map`` and their
  share of all the rows the phase writes;
* a no-change re-run (target < 5% of the full run), with each change detection (sweep, hash,
  watermark), and each schema's transforms next to the floor of writing its rows once;
* a 1% delta: in every staged legacy table 1% of the rows updated (a free-text column and
  ``updated_at`` touched), ~0.3% deleted (rows no foreign key points at) and ~0.3% inserted
  (copies with a new key; skipped, and said so, where the table has no single-column
  integer/uuid primary key or a unique key that cannot be renewed), then a re-run (target <= 5%
  of the full run) and whether every check of it passed;
* peak RSS of this process (the run process; target < 1 GB).
With ``--json`` the last line is one JSON object of every figure.
This is a benchmark that prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # explain_transform

from hms_pipeline.db import canonical_url  # noqa: E402
from hms_pipeline.sqlrun import apply_ddl  # noqa: E402
from hms_pipeline.settings import load_settings  # noqa: E402


def staged_legacy_tables(conn, schema: str) -> list[tuple[str, str]]:
    """The legacy base tables the backfill phase stages (those some transform reads)."""
    from hms_pipeline.defs.etl.assets import legacy_table_names

    rows = conn.execute(
        """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relkind = 'r' and c.relname = any(%s) order by 1""",
        (schema, legacy_table_names()),
    ).fetchall()
    return [(schema, name) for (name,) in rows]


def written_tables(conn) -> list[tuple[str, str]]:
    """The canonical tables and id-map partitions holding rows after the run."""
    rows = conn.execute(
        """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind = 'r' and (n.nspname in ('core', 'clinical', 'inpatient', 'pharmacy', 'billing', 'ref')
                 or (n.nspname = 'etl' and c.relname like 'id\\_map\\_%%'))
             and c.reltuples > 0 order by 1, 2""").fetchall()
    return [(schema, name) for schema, name in rows]


def floor(url: str, tables: list[tuple[str, str]]) -> tuple[int, float]:
    """INSERT ... SELECT of every row of ``tables`` ((schema, table) pairs) into indexed copies."""
    with psycopg.connect(url) as conn:
        conn.execute("drop schema if exists bench_floor cascade; create schema bench_floor")
        for schema, name in tables:
            conn.execute(sql.SQL("create table {} (like {} including indexes)").format(
                sql.Identifier("bench_floor", f"{schema}__{name}"), sql.Identifier(schema, name)))
        conn.commit()
        started = time.perf_counter()
        total = 0
        for schema, name in tables:
            total += conn.execute(sql.SQL("insert into {} select * from {}").format(
                sql.Identifier("bench_floor", f"{schema}__{name}"), sql.Identifier(schema, name))).rowcount
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("drop schema bench_floor cascade")
        conn.commit()
    return total, seconds


# --- the 1% delta --------------------------------------------------------------------------------

FREE_TEXT = ("note", "remark", "descr", "comment", "address", "instruction", "reason", "label", "detail")
INT_TYPES = ("int2", "int4", "int8")


def table_oid(conn, schema: str, name: str) -> int:
    """The pg_class oid of ``schema.name``."""
    return conn.execute(
        """select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relname = %s""", (schema, name)).fetchone()[0]


def column_facts(conn, oid: int) -> list[dict]:
    """Each insertable column of a table: name, type name, varchar length (None when unbounded),
    and whether it is in the primary key, a unique index or a foreign key of the table."""
    rows = conn.execute(
        """select a.attname, t.typname,
                  case when t.typname = 'varchar' and a.atttypmod > 4 then a.atttypmod - 4 end,
                  exists (select 1 from pg_index i where i.indrelid = a.attrelid and i.indisprimary
                          and a.attnum = any(i.indkey)),
                  exists (select 1 from pg_index i where i.indrelid = a.attrelid and i.indisunique
                          and not i.indisprimary and a.attnum = any(i.indkey)),
                  exists (select 1 from pg_constraint c where c.conrelid = a.attrelid and c.contype = 'f'
                          and a.attnum = any(c.conkey))
           from pg_attribute a join pg_type t on t.oid = a.atttypid
           where a.attrelid = %s and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
           order by a.attnum""", (oid,)).fetchall()
    keys = ("name", "type", "length", "pk", "unique", "fk")
    return [dict(zip(keys, row)) for row in rows]


def unique_indexes(conn, oid: int) -> list[list[str | None]]:
    """The column names of each unique, non-primary index of a table (None for an expression)."""
    rows = conn.execute(
        """select array(select a.attname from unnest(i.indkey) with ordinality k (attnum, pos)
                        left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                        order by k.pos)
           from pg_index i where i.indrelid = %s and i.indisunique and not i.indisprimary""", (oid,)).fetchall()
    return [names for (names,) in rows]


def referencing_keys(conn, oid: int) -> list[tuple[str, str, list[str], list[str]]]:
    """The foreign keys pointing at a table: (child schema, child table, child columns, parent columns)."""
    return conn.execute(
        """select n.nspname, c.relname,
                  array(select a.attname from unnest(k.conkey) with ordinality u (attnum, pos)
                        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum order by u.pos),
                  array(select a.attname from unnest(k.confkey) with ordinality u (attnum, pos)
                        join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum order by u.pos)
           from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
           where k.contype = 'f' and k.confrelid = %s""", (oid,)).fetchall()


def share_of(count: int, share: float, at_least: int = 0) -> int:
    """``share`` of ``count`` rows, rounded half up, at least ``at_least`` (never more than ``count``)."""
    return min(count, max(at_least, int(count * share + 0.5)))


def sample(table: sql.Identifier, where: sql.Composable = sql.SQL("true")) -> sql.Composed:
    """The ctids of ``%(n)s`` random rows of ``table`` (aliased ``p``) satisfying ``where``."""
    return sql.SQL("array(select p.ctid from {} as p where {} order by random() limit %(n)s)").format(table, where)


def touch_rows(conn, table: sql.Identifier, facts: list[dict], n: int) -> dict:
    """Update ``n`` random rows without changing what they mean: append 'x' to a free-text column
    (notes, description, address, ...; a varchar kept within its length) that is no key, and set
    a timestamp ``updated_at`` to now(). A table with neither sets its first non-key column to
    itself (the row version still changes). Returns the rows updated and what was touched."""
    sets, what, params = [], [], {"n": n}
    text = next((f for f in facts if f["type"] in ("text", "varchar") and not (f["pk"] or f["unique"] or f["fk"])
                 and any(word in f["name"] for word in FREE_TEXT)), None)
    if text:
        col = sql.Identifier(text["name"])
        value = sql.SQL("{} || 'x'").format(col)
        if text["length"]:
            value, params["len"] = sql.SQL("left({}, %(len)s)").format(value), text["length"]
        sets.append(sql.SQL("{} = {}").format(col, value))
        what.append(f"{text['name']}||'x'")
    if any(f["name"] == "updated_at" and f["type"] in ("timestamp", "timestamptz") for f in facts):
        sets.append(sql.SQL("updated_at = now()"))
        what.append("updated_at=now()")
    if not sets:
        plain = next(f for f in facts if not f["pk"])
        sets.append(sql.SQL("{0} = {0}").format(sql.Identifier(plain["name"])))
        what.append(f"{plain['name']} (to itself)")
    updated = conn.execute(sql.SQL("update {} set {} where ctid = any({})").format(
        table, sql.SQL(", ").join(sets), sample(table)), params).rowcount
    return {"updated": updated, "touched": ", ".join(what)}


def delete_rows(conn, table: sql.Identifier, oid: int, n: int) -> dict:
    """Delete ``n`` random rows no foreign key points at (so nothing cascades or is refused)."""
    free = [sql.SQL("not exists (select 1 from {} as c where {})").format(
        sql.Identifier(cs, cn),
        sql.SQL(" and ").join(sql.SQL("c.{} = p.{}").format(sql.Identifier(a), sql.Identifier(b))
                              for a, b in zip(ccols, pcols)))
        for cs, cn, ccols, pcols in referencing_keys(conn, oid)]
    where = sql.SQL(" and ").join(free) if free else sql.SQL("true")
    deleted = conn.execute(sql.SQL("delete from {} where ctid = any({})").format(table, sample(table, where)),
                           {"n": n}).rowcount
    return {"deleted": deleted}


def renewed_value(f: dict, table: sql.Identifier, params: dict) -> sql.Composable | None:
    """The value a copied row gets in a key column (primary key or unique index): a new uuid, max +
    row number for an integer, the old text with a random suffix (a varchar's length bound in
    ``params``); None when it cannot be renewed (another type, or part of a foreign key)."""
    col = sql.Identifier(f["name"])
    if f["fk"] and not f["pk"]:
        return None
    if f["type"] == "uuid":
        return sql.SQL("gen_random_uuid()")
    if f["type"] in INT_TYPES:
        return sql.SQL("(select coalesce(max({}), 0) from {}) + row_number() over ()").format(col, table)
    if f["type"] not in ("text", "varchar") or f["pk"]:
        return None
    suffix = sql.SQL("left(md5(random()::text), 8)")
    if not f["length"]:
        return sql.SQL("s.{} || '-' || {}").format(col, suffix)
    params[f"len_{f['name']}"] = f["length"]
    bound = sql.Placeholder(f"len_{f['name']}")
    return sql.SQL("right(s.{} || '-' || {}, {})").format(col, suffix, bound)


def insert_copies(conn, table: sql.Identifier, oid: int, facts: list[dict], n: int) -> dict:
    """Insert copies of ``n`` random rows with a new primary key (the table must have a single-column
    integer or uuid one) and new values in its other unique columns. Returns the rows inserted and,
    when none could be, why (``skipped``)."""
    pk = [f for f in facts if f["pk"]]
    if len(pk) != 1 or pk[0]["type"] not in ("uuid", *INT_TYPES):
        return {"inserted": 0, "skipped": ["inserts: no single-column integer/uuid primary key"]}
    params = {"n": n}
    renewed = {f["name"]: renewed_value(f, table, params) for f in facts if f["pk"] or f["unique"]}
    for names in unique_indexes(conn, oid):
        if not any(renewed.get(name) is not None for name in names if name):
            why = f"inserts: unique ({', '.join(map(str, names))}) cannot be renewed"
            return {"inserted": 0, "skipped": [why]}
    cols = [f["name"] for f in facts]
    values = [renewed[c] if renewed.get(c) is not None else sql.SQL("s.{}").format(sql.Identifier(c))
              for c in cols]
    inserted = conn.execute(sql.SQL(
        "insert into {t} ({cols}) overriding system value select {vals} from {t} as s "
        "where s.ctid = any({pick}) on conflict do nothing").format(
        t=table, cols=sql.SQL(", ").join(map(sql.Identifier, cols)), vals=sql.SQL(", ").join(values),
        pick=sample(table)), params).rowcount
    return {"inserted": inserted}


def change_table(conn, schema: str, name: str, update: float, delete: float, insert: float) -> dict:
    """Delete, insert and update a share of one table's rows, each step in its own savepoint (a step
    that fails is reported in ``skipped`` with its error class, not fatal)."""
    table, oid = sql.Identifier(schema, name), table_oid(conn, schema, name)
    facts = column_facts(conn, oid)
    count = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
    out: dict = {"updated": 0, "deleted": 0, "inserted": 0}
    steps = (("deletes", lambda: delete_rows(conn, table, oid, share_of(count, delete))),
             ("inserts", lambda: insert_copies(conn, table, oid, facts, share_of(count, insert))),
             ("updates", lambda: touch_rows(conn, table, facts, share_of(count, update, 1))))
    for label, step in steps:
        try:
            with conn.transaction():
                got = step()
        except psycopg.Error as exc:
            got = {"skipped": [f"{label}: {type(exc).__name__}"]}
        out.setdefault("skipped", []).extend(got.pop("skipped", []))
        out.update(got)
    if not out["skipped"]:
        del out["skipped"]
    return out


def apply_delta(url: str, tables: list[tuple[str, str]], *, update: float = 0.01, delete: float = 0.003,
                insert: float = 0.003, seed: float = 0.42) -> dict[str, dict]:
    """Change about 1% of the rows of every table in one transaction: update ``update`` of them (at
    least one row), delete ``delete`` and insert ``insert`` (copies with a new key). Returns, per
    ``schema.table``, the rows updated/deleted/inserted, what the update touched and what was skipped."""
    with psycopg.connect(url) as conn:
        conn.execute("select setseed(%s)", (seed,))
        out = {f"{schema}.{name}": change_table(conn, schema, name, update, delete, insert)
               for schema, name in tables}
        conn.commit()
    return out


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds per Dagster step (asset or check) of a run, from its event log."""
    starts, out = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            out[event.step_key] = entry.timestamp - starts[event.step_key]
    return out


SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ref")


def _is_check_step(key: str) -> bool:
    """A step of its own for a check (the late suite checks, the monitors); a table's ERROR and WARN
    suite checks run inside the table's step."""
    return "_expectations" in key or "_monitor" in key


def schema_seconds(steps: dict[str, float]) -> dict[str, float]:
    """Seconds of each schema's table steps (step keys are ``<schema>__<table>``; a table's step
    includes its engine and ERROR/WARN suite checks; check steps of their own excluded)."""
    out = dict.fromkeys(SCHEMAS, 0.0)
    for key, seconds in steps.items():
        schema = key.split("__", 1)[0]
        if schema in out and not _is_check_step(key):
            out[schema] += seconds
    return out


def suite_seconds(result) -> float:
    """Seconds the GX suites took in a run (their checks' ``seconds`` metadata; 0 for a reused
    outcome, whose metadata names the run that evaluated it)."""
    total = 0.0
    for e in result.get_asset_check_evaluations():
        if e.check_name.startswith("expectations") and "reused_from_run" not in e.metadata and "seconds" in e.metadata:
            total += float(e.metadata["seconds"].value)
    return total


def print_breakdown(instance, result, total: float) -> None:
    """Print where a run's time went (table steps, GX suites, overhead; slowest steps) and keep the
    seconds per schema and the five slowest steps in ``LAST``."""
    steps = step_seconds(instance, result.run_id)
    LAST["schema_seconds"] = schema_seconds(steps)
    checks = suite_seconds(result)
    assets = sum(steps.values()) - checks
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:8]
    LAST["slowest_steps"] = [[k, round(v, 2)] for k, v in top[:5]]
    print(f"  steps: {len(steps)}; their work outside the GX suites {assets:.1f}s, GX suites {checks:.1f}s "
          f"({100 * checks / total:.0f}% of the run), "
          f"Dagster and other overhead {total - assets - checks:.1f}s")
    print("  slowest steps: " + ", ".join(f"{k} {v:.1f}s ({100 * v / total:.0f}%)" for k, v in top))


def preflight_seconds(result) -> float:
    """Seconds the engine's constraint pre-flight took, summed over the canonical tables of a run."""
    total = 0.0
    for event in result.get_asset_materialization_events():
        meta = event.step_materialization_data.materialization.metadata
        if "preflight_seconds" in meta:
            total += float(meta["preflight_seconds"].value)
    return total


def engine_step_seconds(result) -> dict[str, float]:
    """Seconds per engine step (``transform`` for every table's own SQL, ``preflight``, ``upsert``,
    ``provenance``, ...), summed over the canonical tables of a run, slowest first."""
    total: dict[str, float] = {}
    for event in result.get_asset_materialization_events():
        meta = event.step_materialization_data.materialization.metadata
        if "step_seconds" in meta:
            for step, secs in (meta["step_seconds"].value or {}).items():
                name = "transform" if step.startswith("transform ") else step
                total[name] = total.get(name, 0.0) + float(secs)
    return {k: round(v, 2) for k, v in sorted(total.items(), key=lambda kv: -kv[1])}


def failed_checks(result) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The asset check evaluations of a run: how many there were by severity (``ERROR``, ``WARN``),
    and the failed ones by severity as ``schema.table:check``."""
    evaluated: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    for e in result.get_asset_check_evaluations():
        evaluated[e.severity.value] = evaluated.get(e.severity.value, 0) + 1
        if not e.passed:
            failed.setdefault(e.severity.value, []).append(f"{'.'.join(e.asset_key.path)}:{e.check_name}")
    return evaluated, {severity: sorted(names) for severity, names in failed.items()}


def print_identities(label: str) -> list[str]:
    """Print whether every ERROR-severity check of the last run passed (the reconciliation and
    conservation identities; else the failing ones), then any failed WARN check; returns the
    ERROR-severity failures."""
    evaluated, failed = LAST["checks"]
    errors = failed.get("ERROR", [])
    if errors:
        print(f"  {label}: {len(errors)} of {evaluated.get('ERROR', 0)} ERROR-severity checks failed: "
              + ", ".join(errors))
    else:
        print(f"  {label}: reconciliation and conservation identities: all hold "
              f"({evaluated.get('ERROR', 0)} ERROR-severity checks passed)")
    for severity, names in sorted(failed.items()):
        if severity != "ERROR":
            print(f"  {label}: {len(names)} of {evaluated.get(severity, 0)} {severity} checks failed: "
                  + ", ".join(names))
    return errors


def guard_refused(result) -> bool:
    """Whether a step of the run failed because the deletion guard refused the legacy snapshot."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            if error.cls_name == "SourceGuardError" or "--accept-deletions" in (error.message or ""):
                return True
            error = error.cause
    return False


LAST: dict = {}


def run_phase(url: str, env: dict | None = None, accept_deletions: list[str] | None = None, *,
              report: bool = False) -> tuple[float, bool]:
    """Run the backfill phase in-process (``env`` set for the run; ``accept_deletions`` lets the
    deletion guard pass those legacy tables, as ``--accept-deletions``). Returns (seconds, success)
    and keeps the run's breakdown, pre-flight seconds and check results in ``LAST``."""
    import dagster as dg

    os.environ["HMS_DATABASE_URL"] = url
    for k, v in (env or {}).items():
        os.environ[k] = v
    from hms_pipeline.definitions import defs

    job = defs.resolve_job_def("phase_backfill")
    instance = dg.DagsterInstance.ephemeral()
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    if accept_deletions:
        run_config["resources"] = {"backfill_options": {"config": {
            "full_refresh": False, "accept_deletions": list(accept_deletions)}}}
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
    seconds = time.perf_counter() - started
    print_breakdown(instance, result, seconds)
    if report:
        # what the CLI (and the report sensors) add after the run: its validation report
        from hms_pipeline.quality.sensors import phases_from_defs, write_report_for_run
        from hms_pipeline.resources import HmsDatabaseResource

        began = time.perf_counter()
        write_report_for_run(instance, result.run_id, HmsDatabaseResource(), phases_from_defs(defs))
        LAST["report_seconds"] = round(time.perf_counter() - began, 2)
        print(f"  the run's validation report (written after it by the CLI and the sensors): "
              f"{LAST['report_seconds']:.1f}s")
    LAST["run_id"] = result.run_id
    LAST["preflight_seconds"] = preflight_seconds(result)
    LAST["engine_steps"] = engine_step_seconds(result)
    print("  engine steps over every table: " + ", ".join(
        f"{k} {v:.1f}s" for k, v in list(LAST["engine_steps"].items())[:8]))
    LAST["checks"] = failed_checks(result)
    LAST["guard_refused"] = guard_refused(result)
    for k in (env or {}):
        os.environ.pop(k, None)
    return seconds, result.success


def prepare(url: str, scale, seed: int, profile: str, *, keep_legacy: bool = False) -> None:
    """Drop the canonical schemas, apply the DDL and generate the legacy data (``keep_legacy``: keep
    the legacy tables an earlier run generated, when there are some)."""
    from hms_pipeline.legacy.generator import generate

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists core, clinical, inpatient, pharmacy, billing, ops, ref, view, stg, etl cascade")
        kept = keep_legacy and conn.execute("select to_regclass('public.patients') is not null").fetchone()[0]
        patients = conn.execute("select count(*) from public.patients").fetchone()[0] if kept else 0
    with psycopg.connect(url) as conn:
        apply_ddl(conn)
    if patients:
        print(f"legacy data kept from an earlier generate: {patients:,} patients (--keep-legacy)", flush=True)
        return
    print(f"generating legacy data at scale {scale} ...", flush=True)
    began = time.perf_counter()
    generate(url, scale=scale, seed=seed, profile=profile)
    print(f"generated in {time.perf_counter() - began:.0f}s", flush=True)


def output_floors(url: str, full_s: float, *, lean: bool = False) -> tuple[list[tuple[str, str]], dict]:
    """The floor of writing the phase's output once: everything it wrote (canonical tables and id-map
    partitions; not with ``lean``), then the canonical tables alone, with the id map's share of the
    rows. Returns the written tables and the figures."""
    with psycopg.connect(url) as conn:
        conn.execute("analyze")
        out = written_tables(conn)
        id_map_rows = conn.execute("select count(*) from ops.legacy_id_map").fetchone()[0]
    out_rows, out_s = (None, None) if lean else floor(url, out)
    if out_s:
        print(f"output floor: INSERT ... SELECT of the {out_rows:,} rows the phase wrote ({len(out)} canonical "
              f"tables and id-map partitions) into indexed copies: {out_s:.1f}s; the phase took "
              f"{full_s / out_s:.1f}x that")
    canonical = [t for t in out if t[0] in SCHEMAS]
    can_rows, can_s = floor(url, canonical)
    print(f"canonical output floor: INSERT ... SELECT of the {can_rows:,} rows of the {len(canonical)} canonical "
          f"tables alone (no id map) into indexed copies: {can_s:.1f}s; the phase took {full_s / can_s:.2f}x that "
          f"(target <= 2.5, goal 1.5)")
    id_share = id_map_rows / (id_map_rows + can_rows) if id_map_rows + can_rows else 0.0
    print(f"id map: {id_map_rows:,} rows in ops.legacy_id_map = {100 * id_share:.0f}% of the rows "
          "the phase writes")
    return out, {"output_rows": out_rows, "output_floor_seconds": round(out_s, 2) if out_s else None,
                 "canonical_output_rows": can_rows,
                 "canonical_output_floor_seconds": round(can_s, 2),
                 "full_over_canonical_floor": round(full_s / can_s, 2), "id_map_rows": id_map_rows,
                 "id_map_share": round(id_share, 3)}


def probe_after(url: str) -> tuple[float, bool]:
    """What ``run --if-changed`` (and the delta schedule) pays after the last run succeeded: mark it
    succeeded as the CLI does, then time the change probe. Returns (seconds, whether it answered
    "nothing changed")."""
    from hms_pipeline.engine import probe
    from hms_pipeline.settings import load_settings as settings_now

    with psycopg.connect(url) as conn:
        probe.mark_succeeded(conn, LAST["run_id"])
    os.environ["HMS_DATABASE_URL"] = url
    began = time.perf_counter()
    same = probe.unchanged(settings_now())
    return time.perf_counter() - began, same is not None


def slowest_plan(url: str, slowest: list, *, analyze: bool) -> dict | None:
    """The plan of the slowest canonical table's transform (``explain_transform.py``): its shape and,
    with ``analyze``, its slowest nodes (the transform runs once more, rolled back)."""
    from explain_transform import explain, print_summary

    from hms_pipeline.defs import all_specs

    selects = {s.name for s in all_specs() if s.kind == "select"}  # a script has no single plan
    table = next((t for t in (k.replace("__", ".", 1) for k, _ in slowest) if t in selects), None)
    if table is None:
        return None
    summary = explain(url, table, analyze=analyze, top=6)
    print("plan of the slowest table's transform (bench/explain_transform.py):")
    print_summary(summary)
    return summary


def nochange_runs(url: str, full_s: float, *, lean: bool = False) -> tuple[dict, bool]:
    """Re-run the phase with no change under each change detection (``lean``: the default 'sweep'
    only), then time the change probe that spares the run. Returns the figures and whether every run
    succeeded."""
    again_s, ok2 = run_phase(url)
    print(f"backfill (no change, change detection 'sweep': rows with a new row version hashed): {again_s:.2f}s = "
          f"{100 * again_s / full_s:.1f}% of the full run (target < 5%); success={ok2}")
    figures = {"nochange_sweep_seconds": round(again_s, 2)}
    if ok2:
        probe_s, same = probe_after(url)
        print(f"no-change probe (`run --if-changed`, the delta schedule): {probe_s:.3f}s = "
              f"{100 * probe_s / full_s:.3f}% of the full run; answered 'nothing changed': {same}")
        figures.update(nochange_probe_seconds=round(probe_s, 3), nochange_probe_answered=same)
    if lean:
        return figures, ok2
    hash_s, ok4 = run_phase(url, {"HMS_CHANGE_DETECTION": "hash"})
    print(f"backfill (no change, change detection 'hash': every row hashed): {hash_s:.2f}s = "
          f"{100 * hash_s / full_s:.1f}% of the full run; success={ok4}")
    wm_s, ok3 = run_phase(url, {"HMS_CHANGE_DETECTION": "watermark"})
    print(f"backfill (no change, change detection 'watermark'): {wm_s:.2f}s = "
          f"{100 * wm_s / full_s:.1f}% of the full run; success={ok3}")
    figures.update(nochange_watermark_seconds=round(wm_s, 2), nochange_hash_seconds=round(hash_s, 2))
    return figures, ok2 and ok3 and ok4


def per_schema_floors(url: str, out: list[tuple[str, str]], full_schema: dict[str, float]) -> dict:
    """Each schema's own transforms next to the floor of writing its rows once."""
    per_schema = {}
    for schema in SCHEMAS:
        tables = [t for t in out if t[0] == schema]
        rows_s, secs_s = floor(url, tables) if tables else (0, 0.0)
        per_schema[schema] = {"phase_seconds": round(full_schema[schema], 2), "output_rows": rows_s,
                              "output_floor_seconds": round(secs_s, 2)}
        ratio = f"{full_schema[schema] / secs_s:.1f}x" if secs_s else "-"
        print(f"  {schema}: its transforms {full_schema[schema]:.1f}s; writing its {rows_s:,} rows once into "
              f"indexed copies {secs_s:.1f}s; {ratio} that floor")
    return per_schema


def print_delta(changes: dict[str, dict]) -> None:
    """Print the totals of a delta and every table where inserts (or a step) were skipped."""
    totals = {k: sum(c[k] for c in changes.values()) for k in ("updated", "deleted", "inserted")}
    print(f"1% delta over {len(changes)} legacy tables: {totals['updated']:,} rows updated, "
          f"{totals['deleted']:,} deleted, {totals['inserted']:,} inserted (copies with a new key)")
    for table, c in changes.items():
        if c.get("skipped"):
            print(f"  {table}: skipped {'; '.join(c['skipped'])}")


def delta_run(url: str, staged: list[tuple[str, str]], full_s: float) -> dict:
    """Change ~1% of every staged legacy table, re-run the phase (sweep) and return its figures. When
    the deletion guard refuses the delta, re-run telling it the deleted tables' deletions are real."""
    changes = apply_delta(url, staged)
    print_delta(changes)
    delta_s, ok = run_phase(url)
    if not ok and LAST["guard_refused"]:
        accepted = sorted(t.split(".", 1)[1] for t, c in changes.items() if c["deleted"])
        print(f"  the deletion guard refused the delta; re-running with accept_deletions={accepted}")
        delta_s, ok = run_phase(url, accept_deletions=accepted)
    print(f"backfill (1% delta, change detection 'sweep'): {delta_s:.2f}s = {100 * delta_s / full_s:.1f}% "
          f"of the full run (target <= 5%); success={ok}")
    return {"delta_1pct_seconds": round(delta_s, 2), "delta_1pct_share": round(delta_s / full_s, 4),
            "delta_1pct_ok": ok, "delta_checks_failed": print_identities("delta run"),
            "delta_slowest_steps": LAST["slowest_steps"], "delta_engine_steps": LAST["engine_steps"],
            "delta_rows_changed": {t: {k: c[k] for k in ("updated", "deleted", "inserted")}
                                   for t, c in changes.items()},
            "delta_skipped": {t: c["skipped"] for t, c in changes.items() if c.get("skipped")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="100000")
    ap.add_argument("--url", default=os.environ.get("HMS_BENCH_DATABASE_URL"))
    ap.add_argument("--profile", default="blueprint")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help="also print every figure as one JSON object (last line)")
    ap.add_argument("--keep-legacy", action="store_true", dest="keep_legacy",
                    help="reuse the legacy tables an earlier run generated in this database (no generate)")
    ap.add_argument("--lean", action="store_true",
                    help="for `large`: leave out the id-map output floor, the per-schema floors and the "
                    "'hash' and 'watermark' no-change runs (the full run, the canonical floor, one no-change "
                    "run, the probe and the 1%% delta remain)")
    args = ap.parse_args()
    figures: dict = {"scale": args.scale, "profile": args.profile}
    url = args.url or canonical_url(load_settings())
    scale = int(args.scale) if args.scale.isdigit() else args.scale
    prepare(url, scale, args.seed, args.profile, keep_legacy=args.keep_legacy)

    with psycopg.connect(url) as conn:
        staged = staged_legacy_tables(conn, "public")
    rows, floor_s = floor(url, staged)
    print(f"floor: INSERT ... SELECT of the {rows:,} rows of the {len(staged)} legacy tables the phase reads "
          f"into indexed copies: {floor_s:.1f}s = {rows / floor_s:,.0f} rows/s")

    full_s, ok = run_phase(url, report=True)
    print(f"backfill (full): {full_s:.1f}s = {rows / full_s:,.0f} legacy rows/s, "
          f"{(rows / full_s) / (rows / floor_s):.2f} of the floor (target >= 0.6); success={ok}")
    pre = LAST["preflight_seconds"]
    full_schema = dict(LAST["schema_seconds"])
    print(f"constraint pre-flight: {pre:.1f}s = {100 * pre / full_s:.1f}% of the full run (target < 10%)")
    figures.update(legacy_rows=rows, floor_seconds=round(floor_s, 2), full_seconds=round(full_s, 2), full_ok=ok,
                   full_legacy_rows_per_second=round(rows / full_s),  # `large` vs 100k: linear within 1.5x?
                   full_report_seconds=LAST.get("report_seconds"),
                   preflight_seconds=round(pre, 2), slowest_steps=LAST["slowest_steps"],
                   engine_steps=LAST["engine_steps"],
                   full_checks_failed=print_identities("full run"))
    figures["slowest_plan"] = slowest_plan(url, LAST["slowest_steps"], analyze=not args.lean)
    out, output = output_floors(url, full_s, lean=args.lean)
    figures.update(output)
    nochange, ok_nochange = nochange_runs(url, full_s, lean=args.lean)
    figures.update(nochange)
    if not args.lean:
        figures["per_schema"] = per_schema_floors(url, out, full_schema)
    figures.update(delta_run(url, staged, full_s))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the run process: {peak_mb:,.0f} MB (target < 1024 MB)")
    figures.update(peak_rss_mb=round(peak_mb), all_ok=ok and ok_nochange and figures["delta_1pct_ok"])
    if args.json:
        import json

        print(json.dumps(figures))


if __name__ == "__main__":
    main()
