"""The migration's phases, in order, and the names derived from them. No Dagster import: the CLI's
``--help`` and the gates read this without loading the code location.

Each phase is a Dagster job (``phase_<name>``) that materializes the assets tagged
``phase=<name>``; a phase is gated by every phase before it (see :mod:`hms_pipeline.quality.gates`).
"""

from __future__ import annotations

PHASE_TAG = "phase"

# 1 schema: the canonical schema (idempotent); profile: the legacy source's shape and figures;
# 2 backfill: the legacy snapshot, then every canonical table (incremental; --full re-reads all).
PHASE_ORDER: tuple[str, ...] = ("schema", "profile", "backfill")

PHASE_DESCRIPTIONS = {
    "schema": "create the canonical schema (idempotent)",
    "profile": "profile the legacy source (existence, counts, null rates, key uniqueness)",
    "backfill": "stage the legacy snapshot, then materialize every canonical table",
}


def phase_job_name(phase: str) -> str:
    return f"phase_{phase}"


def earlier_phases(phase: str) -> tuple[str, ...]:
    """The phases that gate ``phase`` (every one before it)."""
    if phase not in PHASE_ORDER:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASE_ORDER)}")
    return PHASE_ORDER[:PHASE_ORDER.index(phase)]
