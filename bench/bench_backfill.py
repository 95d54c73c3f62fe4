"""Backfill throughput against the floor, no-change re-run time and peak memory.

    python bench/bench_backfill.py [--scale 100000] [--url URL] [--profile blueprint]

Prints, for one run on one database:
* the floor: a plain ``INSERT ... SELECT`` of the same legacy rows (the tables the phase stages,
  i.e. that some transform reads) into same-shaped indexed tables
  (``create table ... (like legacy including indexes)``), rows/s;
* the backfill phase (snapshot + every canonical table, in-process Dagster) rows/s over the same
  legacy rows, and its ratio to the floor (target >= 0.6);
* for reference, the output floor: a plain ``INSERT ... SELECT`` of the rows the phase wrote
  (canonical tables and the id map) into same-shaped indexed copies, so the cost of writing the
  result once can be told from the cost of deriving it;
* a no-change re-run (target < 5% of the full run), with each change detection (sweep, hash,
  watermark);
* peak RSS of this process (the run process; target < 1 GB).
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


def schema_seconds(steps: dict[str, float]) -> dict[str, float]:
    """Seconds of each schema's asset steps (step keys are ``<schema>__<table>``; checks excluded)."""
    out = dict.fromkeys(SCHEMAS, 0.0)
    for key, seconds in steps.items():
        schema = key.split("__", 1)[0]
        if schema in out and not key.endswith("_expectations"):
            out[schema] += seconds
    return out


def print_breakdown(instance, result, total: float) -> None:
    steps = step_seconds(instance, result.run_id)
    LAST["schema_seconds"] = schema_seconds(steps)
    checks = sum(v for k, v in steps.items() if k.endswith("_expectations"))
    assets = sum(v for k, v in steps.items() if not k.endswith("_expectations"))
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:8]
    print(f"  steps: assets {assets:.1f}s, GX suite checks {checks:.1f}s ({100 * checks / total:.0f}% of the run), "
          f"Dagster and other overhead {total - assets - checks:.1f}s")
    print("  slowest steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in top))


def preflight_seconds(result) -> float:
    """Seconds the engine's constraint pre-flight took, summed over the canonical tables of a run."""
    total = 0.0
    for event in result.get_asset_materialization_events():
        meta = event.step_materialization_data.materialization.metadata
        if "preflight_seconds" in meta:
            total += float(meta["preflight_seconds"].value)
    return total


LAST: dict = {}


def run_phase(url: str, env: dict | None = None) -> tuple[float, bool]:
    import dagster as dg

    os.environ["HMS_DATABASE_URL"] = url
    for k, v in (env or {}).items():
        os.environ[k] = v
    from hms_pipeline.definitions import defs

    job = defs.resolve_job_def("phase_backfill")
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    seconds = time.perf_counter() - started
    print_breakdown(instance, result, seconds)
    LAST["preflight_seconds"] = preflight_seconds(result)
    for k in (env or {}):
        os.environ.pop(k, None)
    return seconds, result.success


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="100000")
    ap.add_argument("--url", default=os.environ.get("HMS_BENCH_DATABASE_URL"))
    ap.add_argument("--profile", default="blueprint")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help="also print every figure as one JSON object (last line)")
    args = ap.parse_args()
    figures: dict = {"scale": args.scale, "profile": args.profile}
    url = args.url or canonical_url(load_settings())
    scale = int(args.scale) if args.scale.isdigit() else args.scale

    from hms_pipeline.legacy.generator import generate

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists core, clinical, inpatient, pharmacy, billing, ops, ref, view, stg, etl cascade")
    with psycopg.connect(url) as conn:
        apply_ddl(conn)
    print(f"generating legacy data at scale {scale} ...", flush=True)
    generate(url, scale=scale, seed=args.seed, profile=args.profile)

    with psycopg.connect(url) as conn:
        staged = staged_legacy_tables(conn, "public")
    rows, floor_s = floor(url, staged)
    print(f"floor: INSERT ... SELECT of the {rows:,} rows of the {len(staged)} legacy tables the phase reads "
          f"into indexed copies: {floor_s:.1f}s = {rows / floor_s:,.0f} rows/s")

    full_s, ok = run_phase(url)
    print(f"backfill (full): {full_s:.1f}s = {rows / full_s:,.0f} legacy rows/s, "
          f"{(rows / full_s) / (rows / floor_s):.2f} of the floor (target >= 0.6); success={ok}")
    pre = LAST["preflight_seconds"]
    full_schema = dict(LAST["schema_seconds"])
    print(f"constraint pre-flight: {pre:.1f}s = {100 * pre / full_s:.1f}% of the full run (target < 10%)")
    figures.update(legacy_rows=rows, floor_seconds=round(floor_s, 2), full_seconds=round(full_s, 2), full_ok=ok,
                   preflight_seconds=round(pre, 2))
    with psycopg.connect(url) as conn:
        conn.execute("analyze")
        out = written_tables(conn)
    out_rows, out_s = floor(url, out)
    print(f"output floor: INSERT ... SELECT of the {out_rows:,} rows the phase wrote ({len(out)} canonical tables "
          f"and id-map partitions) into indexed copies: {out_s:.1f}s; the phase took {full_s / out_s:.1f}x that")
    again_s, ok2 = run_phase(url)
    print(f"backfill (no change, change detection 'sweep': rows with a new row version hashed): {again_s:.2f}s = "
          f"{100 * again_s / full_s:.1f}% of the full run (target < 5%); success={ok2}")
    hash_s, ok4 = run_phase(url, {"HMS_CHANGE_DETECTION": "hash"})
    print(f"backfill (no change, change detection 'hash': every row hashed): {hash_s:.2f}s = "
          f"{100 * hash_s / full_s:.1f}% of the full run; success={ok4}")
    wm_s, ok3 = run_phase(url, {"HMS_CHANGE_DETECTION": "watermark"})
    print(f"backfill (no change, change detection 'watermark'): {wm_s:.2f}s = "
          f"{100 * wm_s / full_s:.1f}% of the full run; success={ok3}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the run process: {peak_mb:,.0f} MB (target < 1024 MB)")
    per_schema = {}
    for schema in SCHEMAS:  # each schema's own transforms next to the floor of writing its rows once
        tables = [t for t in out if t[0] == schema]
        rows_s, secs_s = floor(url, tables) if tables else (0, 0.0)
        per_schema[schema] = {"phase_seconds": round(full_schema[schema], 2), "output_rows": rows_s,
                              "output_floor_seconds": round(secs_s, 2)}
        ratio = f"{full_schema[schema] / secs_s:.1f}x" if secs_s else "-"
        print(f"  {schema}: its transforms {full_schema[schema]:.1f}s; writing its {rows_s:,} rows once into "
              f"indexed copies {secs_s:.1f}s; {ratio} that floor")
    figures["per_schema"] = per_schema
    figures.update(output_rows=out_rows, output_floor_seconds=round(out_s, 2), nochange_sweep_seconds=round(again_s, 2),
                   nochange_watermark_seconds=round(wm_s, 2), nochange_hash_seconds=round(hash_s, 2),
                   peak_rss_mb=round(peak_mb), all_ok=ok and ok2 and ok3 and ok4)
    if args.json:
        import json

        print(json.dumps(figures))


if __name__ == "__main__":
    main()
