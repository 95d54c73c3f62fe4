"""``hms-pipeline security enable [--table T]`` and ``hms-pipeline security status`` (phase 5, issue #14).

enable: turn row-level security on, table by table (default: every table of the matrix, plus the
archived legacy tables once the compatibility views are on), in one transaction; prints what it
enabled. status: RLS per table, then the role matrix run live (hms_pipeline.security.rls.verify_matrix,
rolled back) with its verdict counts; exit 1 when a cell differs from the README's matrix. Output holds
table, role and verb names and counts only, never a row value.
"""

from __future__ import annotations

from collections import Counter

from hms_pipeline import db
from hms_pipeline.security import rls


def enable_tables(conn, tables: list[str] | None = None) -> list[str]:
    """Enable RLS (in the caller's connection) and commit; returns the tables enabled. Shared with the
    Dagster job ``security_enable``."""
    done = rls.enable(conn, tables or None)
    conn.commit()
    return done


def _enable(args, conn) -> int:
    try:
        done = enable_tables(conn, list(args.table or []))
    except ValueError as exc:
        print(f"security enable: {exc}")
        return 1
    if done:
        print(f"row-level security enabled on {len(done)} table(s):")
        print("\n".join(f"  {t}" for t in done))
    else:
        print("row-level security: nothing to enable (already on)")
    return 0


def _status(conn) -> int:
    status = rls.rls_status(conn)
    on = [t for t, v in status.items() if v]
    print(f"row-level security: on for {len(on)} of {len(status)} table(s)")
    for table, v in status.items():
        print(f"  {table:34} {'on' if v else 'off'}")
    try:
        cells = rls.verify_matrix(conn)
    except ValueError as exc:
        print(f"role matrix: not run ({exc})")
        return 1
    diff = rls.differences(cells)
    counts = Counter((c.identity, c.expected == c.actual) for c in cells)
    for identity in sorted({c.identity for c in cells}):
        print(f"role matrix ({identity}): {counts[(identity, True)]} cell(s) as expected, "
              f"{counts[(identity, False)]} differ")
    for c in diff[:50]:
        print(f"  differs: {c.identity} {c.role} {c.verb} {c.table} ({c.scope} of scope): expected "
              f"{'allowed' if c.expected else 'refused'}, got {'allowed' if c.actual else 'refused'}"
              f"{f' [{c.detail}]' if c.detail else ''}")
    if len(diff) > 50:
        print(f"  ... and {len(diff) - 50} more")
    if not on:
        print("note: RLS is off everywhere; run `hms-pipeline security enable` (the matrix above then holds)")
    return 1 if diff else 0


def run(args, settings) -> int:
    """Entry point of ``hms-pipeline security``; returns the exit code."""
    with db.connect(db.canonical_url(settings)) as conn:
        if args.security_command == "enable":
            return _enable(args, conn)
        if args.security_command == "status":
            return _status(conn)
    print(f"security: unknown command {args.security_command!r}")
    return 1
