"""Checks that every canonical table has all its homes, run when the code location loads.

The factory already refuses a spec without its transform or suite. This module covers the other
direction: a transform file under ``sql/<schema>/`` that no spec claims (its table would silently
never load)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from hms_pipeline.lib.factory import TRANSFORM_METADATA, MissingHomeError
from hms_pipeline.paths import SQL_DIR

# sql/ folders that hold canonical transforms (the rest: ddl, engine helpers, legacy fixtures)
CANONICAL_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref")


def transform_files(sql_dir: Path = SQL_DIR) -> list[str]:
    """Every transform file as ``sql/<schema>/<table>.sql`` (relative to the folder holding ``sql_dir``)."""
    return sorted(str(p.relative_to(Path(sql_dir).parent)) for schema in CANONICAL_SCHEMAS
                  for p in (Path(sql_dir) / schema).glob("*.sql"))


def claimed_transforms(asset_specs: Iterable[dg.AssetSpec]) -> set[str]:
    return {str(spec.metadata[TRANSFORM_METADATA]) for spec in asset_specs
            if TRANSFORM_METADATA in (spec.metadata or {})}


def check_every_transform_has_a_spec(asset_specs: Iterable[dg.AssetSpec], sql_dir: Path = SQL_DIR) -> None:
    """Raise :class:`MissingHomeError` naming every transform file no asset spec claims."""
    claimed = claimed_transforms(asset_specs)
    orphans = [f for f in transform_files(sql_dir) if f not in claimed]
    if orphans:
        hints = "; ".join(f"{f}: add a TableSpec for it to hms_pipeline/defs/{Path(f).parent.name}/"
                          for f in orphans)
        raise MissingHomeError(f"transform file(s) without a spec: {hints}")
