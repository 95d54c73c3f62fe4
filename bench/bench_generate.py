"""Synthetic legacy generation throughput (rows/s overall and per table).

    python bench/bench_generate.py [--scale 100000] [--url URL] [--profile blueprint] [--seed 42]

The database is ``--url``, else ``HMS_DATABASE_URL``, else the embedded server
(``canonical_url(load_settings())``). Without ``--url`` the run goes to a separate database
``hms_bench_generate`` on that server, so the bench never replaces the legacy schema or the
``hms_truth`` of the database the product works on. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hms_pipeline.db import canonical_url, ensure_database, redact_url, with_database  # noqa: E402
from hms_pipeline.legacy.generator import generate  # noqa: E402
from hms_pipeline.settings import load_settings  # noqa: E402

BENCH_DATABASE = "hms_bench_generate"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="100000", help="tiny|demo|large|<patients> (default 100000)")
    ap.add_argument("--url", default=None, help="database URL (default: a bench database on HMS_DATABASE_URL's "
                                                "server or the embedded one)")
    ap.add_argument("--profile", choices=["blueprint", "live"], default="blueprint")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--schema", default="public", help="legacy schema to (re)create (default public)")
    args = ap.parse_args(argv)
    scale: str | int = int(args.scale) if args.scale.isdigit() else args.scale

    if args.url:
        url = args.url
    else:
        server = os.environ.get("HMS_DATABASE_URL") or canonical_url(load_settings())
        url = ensure_database(with_database(server, BENCH_DATABASE))
    print(f"database: {redact_url(url)}; scale {scale}, profile {args.profile}, seed {args.seed}")
    report = generate(url, schema=args.schema, scale=scale, seed=args.seed, profile=args.profile,
                      progress=sys.stderr.isatty())
    print(report)
    print(f"\nrows/s overall (legacy rows / wall-clock seconds of the data phase): {report.rows_per_second:,.0f}")
    print(f"rows/s including the ground truth: "
          f"{(report.total_rows + sum(report.truth_rows.values())) / report.total_seconds:,.0f} "
          f"({report.total_seconds:.1f}s end to end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
