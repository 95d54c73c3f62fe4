"""Where one canonical table's transform spends its time: its plan, node by node.

    python bench/explain_transform.py billing.charges [--url URL] [--analyze] [--top 12] [--json]

Runs, inside a transaction that is rolled back, what the engine runs before the transform of a full
run (the same session settings, the table's planner settings, ``_todo`` holding every staged key),
then ``EXPLAIN`` of the table's SQL file with its parameters bound. Prints the plan's shape (node
types and how often they occur, the join methods) and, with ``--analyze`` (the transform really
runs, so it costs one transform's time), its slowest nodes by their own time with actual against
estimated rows: a nested loop over thousands of outer rows, or an estimate off by 100x, is where a
plan went wrong. The bench prints the same for the slowest table of its full run.
This prints figures; it asserts nothing. It reads no row value: plans name relations and columns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _nodes(node: dict, depth: int = 0):
    yield node, depth
    for child in node.get("Plans", []) or []:
        yield from _nodes(child, depth + 1)


def _own_ms(node: dict) -> float:
    """A node's own time (its total over all loops, less its children's), in ms."""
    total = node.get("Actual Total Time", 0.0) * node.get("Actual Loops", 1)
    children = sum(c.get("Actual Total Time", 0.0) * c.get("Actual Loops", 1) for c in node.get("Plans", []) or [])
    return max(total - children, 0.0)


def _label(node: dict) -> str:
    parts = [node["Node Type"]]
    if node.get("Join Type") and node["Node Type"] != node.get("Join Type"):
        parts.append(node["Join Type"])
    rel = node.get("Relation Name") or node.get("CTE Name") or node.get("Function Name")
    if rel:
        parts.append(f"on {node.get('Schema', '') + '.' if node.get('Schema') else ''}{rel}")
    return " ".join(parts)


def summarize(plan: dict, top: int) -> dict:
    """The plan's shape and (when analyzed) its slowest nodes."""
    root = plan["Plan"]
    nodes = list(_nodes(root))
    shape = Counter(n["Node Type"] for n, _ in nodes)
    out: dict = {"nodes": len(nodes), "shape": dict(shape.most_common()),
                 "estimated_total_cost": root.get("Total Cost")}
    if "Actual Total Time" in root:
        slow = sorted(nodes, key=lambda nd: -_own_ms(nd[0]))[:top]
        out["execution_ms"] = round(plan.get("Execution Time", 0.0), 1)
        out["slowest_nodes"] = [
            {"node": _label(n), "own_ms": round(_own_ms(n), 1), "loops": n.get("Actual Loops", 1),
             "rows": n.get("Actual Rows", 0) * n.get("Actual Loops", 1),
             "estimated_rows": round(n.get("Plan Rows", 0) * n.get("Actual Loops", 1)),
             "temp_blocks_written": n.get("Temp Written Blocks", 0),
             # conditions name columns and functions (and literals of the SQL file), never a row value
             "condition": " ".join(f"{k}: {n[k]}" for k in ("Hash Cond", "Merge Cond", "Join Filter", "Filter",
                                                              "Index Cond") if n.get(k))[:300],
             "rows_removed": n.get("Rows Removed by Join Filter", 0) + n.get("Rows Removed by Filter", 0)}
            for n, _ in slow]
        out["nested_loops_over_1000_outer_rows"] = [
            _label(n) for n, _ in nodes
            if n["Node Type"] == "Nested Loop" and n.get("Plans")
            and n["Plans"][0].get("Actual Rows", 0) * n["Plans"][0].get("Actual Loops", 1) > 1000]
    return out


def explain(url: str, table: str, *, analyze: bool, top: int = 12) -> dict:
    """EXPLAIN of ``table``'s transform as a full run would run it (rolled back)."""
    from hms_pipeline.defs import all_specs
    from hms_pipeline.engine import transform
    from hms_pipeline.lib.factory import transform_params
    from hms_pipeline.resources import HmsDatabaseResource

    os.environ["HMS_DATABASE_URL"] = url
    spec = {s.name: s for s in all_specs()}[table]
    if spec.kind != "select":
        raise SystemExit(f"{table}: its transform is a script of several statements (kind {spec.kind!r}), "
                         "not one SELECT: explain its statements one by one")
    hms_db = HmsDatabaseResource()
    options = sql.SQL("analyze, buffers, format json" if analyze else "format json")
    with hms_db.connect() as conn, conn.transaction(force_rollback=True):
        transform.session_settings(conn, spec)
        row = conn.execute("select run_id from etl.apply_state where canonical_table = %s", (table,)).fetchone()
        run_id = row[0] if row else "explain"
        transform.full_todo(conn, spec, run_id)
        query = sql.SQL("explain ({}) ").format(options) + sql.SQL(spec.sql_path.read_text(encoding="utf-8"))
        with conn.cursor() as cur:
            cur.execute(query, transform.bound_params(spec, run_id, transform_params(hms_db)))
            plan = cur.fetchone()[0][0]
    return {"table": table, **summarize(plan, top)}


def print_summary(s: dict) -> None:
    print(f"{s['table']}: plan of {s['nodes']} nodes; shape: "
          + ", ".join(f"{k} x{v}" for k, v in s["shape"].items()))
    if "slowest_nodes" in s:
        print(f"  executed in {s['execution_ms'] / 1000:.1f}s; slowest nodes by their own time:")
        for n in s["slowest_nodes"]:
            print(f"    {n['own_ms'] / 1000:7.2f}s  {n['node']}  rows {n['rows']:,} (estimated {n['estimated_rows']:,})"
                  f"{'  loops ' + format(n['loops'], ',') if n['loops'] > 1 else ''}"
                  f"{'  temp blocks ' + format(n['temp_blocks_written'], ',') if n['temp_blocks_written'] else ''}"
                  f"{'  removed ' + format(n['rows_removed'], ',') if n['rows_removed'] else ''}")
            if n["condition"]:
                print(f"             {n['condition']}")
        if s["nested_loops_over_1000_outer_rows"]:
            print("  nested loops over > 1,000 outer rows: " + "; ".join(s["nested_loops_over_1000_outer_rows"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", help="schema.table")
    ap.add_argument("--url", default=os.environ.get("HMS_DATABASE_URL"))
    ap.add_argument("--analyze", action="store_true", help="run the transform (EXPLAIN ANALYZE)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.url:
        from hms_pipeline.db import canonical_url
        from hms_pipeline.settings import load_settings

        args.url = canonical_url(load_settings())
    s = explain(args.url, args.table, analyze=args.analyze, top=args.top)
    print_summary(s)
    if args.json:
        print(json.dumps(s))


if __name__ == "__main__":
    main()
