"""Build one compatibility view beside the legacy table (before any switch) and compare them.

    python -m hms_pipeline.compat.preview --url URL --table patients [--columns-csv FILE] [--schema public]

Copies the kept store from ``stg`` (with ``--columns-csv``: its rows override mappings/columns.csv
for the same table and column), creates ``compat_preview.<table>`` over the canonical tables with the
legacy table itself standing for the archive, and prints, without any value: the row counts, the rows
only on one side (as multisets), and per column the number of legacy rows whose value differs from the
view's row with the same key.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.compat.kept import copy_kept
from hms_pipeline.compat.views import create_view, key_column, legacy_columns
from hms_pipeline.legacy.dispositions import DISPOSITIONS_FILE, FIELDS
from hms_pipeline.sqlrun import apply_ddl

PREVIEW_SCHEMA = "compat_preview"


def merged_dispositions(override: Path | None) -> Path:
    if override is None:
        return DISPOSITIONS_FILE
    with open(override, newline="", encoding="utf-8") as fh:
        extra = {(r["table"], r["column"]): r for r in csv.DictReader(fh)}
    out = Path(tempfile.mkdtemp()) / "columns.csv"
    with open(DISPOSITIONS_FILE, newline="", encoding="utf-8") as fh, open(out, "w", newline="", encoding="utf-8") as w:
        writer = csv.DictWriter(w, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in csv.DictReader(fh):
            writer.writerow(extra.get((r["table"], r["column"]), r))
    return out


def compare(conn: psycopg.Connection, table: str, legacy_schema: str, view_schema: str) -> dict:
    cols = legacy_columns(conn, legacy_schema, table)
    key = key_column(conn, legacy_schema, table, cols)
    legacy = sql.Identifier(legacy_schema, table)
    view = sql.Identifier(view_schema, table)
    out = {
        "legacy_rows": conn.execute(sql.SQL("select count(*) from {}").format(legacy)).fetchone()[0],
        "view_rows": conn.execute(sql.SQL("select count(*) from {}").format(view)).fetchone()[0],
        "only_legacy": conn.execute(sql.SQL("select count(*) from (select * from {} except all select * from {}) x")
                                    .format(legacy, view)).fetchone()[0],
        "only_view": conn.execute(sql.SQL("select count(*) from (select * from {} except all select * from {}) x")
                                  .format(view, legacy)).fetchone()[0],
        "missing_keys": conn.execute(sql.SQL("select count(*) from {} l where not exists (select 1 from {} v where v.{k} = l.{k})")
                                     .format(legacy, view, k=sql.Identifier(key))).fetchone()[0],
    }
    diffs = {}
    for c in cols:
        n = conn.execute(sql.SQL("select count(*) from {} l join {} v on v.{k} = l.{k} where l.{c} is distinct from v.{c}")
                         .format(legacy, view, k=sql.Identifier(key), c=sql.Identifier(c.name))).fetchone()[0]
        if n:
            diffs[c.name] = n
    out["differing_columns"] = diffs
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--table", required=True, action="append")
    ap.add_argument("--columns-csv", type=Path)
    ap.add_argument("--schema", default="public", help="the legacy schema")
    args = ap.parse_args(argv)
    path = merged_dispositions(args.columns_csv)
    with psycopg.connect(args.url, autocommit=True) as conn:
        apply_ddl(conn)
        with conn.transaction():
            copy_kept(conn, path, full=True)
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(PREVIEW_SCHEMA)))
        for table in args.table:
            with conn.transaction():
                conn.execute(sql.SQL("drop view if exists {} cascade").format(sql.Identifier(PREVIEW_SCHEMA, table)))
                create_view(conn, table, view_schema=PREVIEW_SCHEMA, archive_schema=args.schema, writable=False)
            result = compare(conn, table, args.schema, PREVIEW_SCHEMA)
            print(f"{table}: legacy {result['legacy_rows']} rows, view {result['view_rows']} rows; "
                  f"only in legacy {result['only_legacy']}, only in view {result['only_view']}, "
                  f"legacy keys missing from the view {result['missing_keys']}")
            for col, n in result["differing_columns"].items():
                print(f"  {col}: {n} rows differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
