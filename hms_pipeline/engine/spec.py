"""What the engine needs to know about one canonical table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hms_pipeline.paths import sql_file


PLANNER_SETTINGS = frozenset({"enable_nestloop", "enable_mergejoin", "enable_hashjoin", "work_mem",
                              "join_collapse_limit", "from_collapse_limit"})


@dataclass(frozen=True)
class Source:
    """A legacy table that feeds a canonical table.

    ``consumes`` is an optional static SQL predicate over the staged row alias ``s`` saying which
    legacy rows this canonical table is responsible for (default: all). Reconciliation proves that
    each of those rows is loaded, merged or quarantined for this table."""

    legacy_table: str
    consumes: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its transform (``sql/<schema>/<table>.sql``), sources and dependencies.

    The transform is one SELECT (a CTE pipeline) over ``stg.*`` restricted to the temp table
    ``_todo(legacy_table, key)``; it returns the canonical columns plus ``_legacy_table``,
    ``_legacy_key``, ``_disposition`` ('LOADED' or 'MERGED'), ``_reason`` (a quarantine reason code or
    NULL) and ``_detail`` (jsonb, no PHI). The engine does the rest, set-based."""

    schema: str
    table: str
    sources: tuple[Source, ...]
    deps: tuple[str, ...] = ()  # other canonical tables, "schema.table"
    phase: str = "backfill"
    description: str = ""
    sql_name: str | None = None
    extra_params: dict = field(default_factory=dict)
    # False when the transform emits each canonical id at most once and never MERGED (a 1:1 or 1:N
    # derivation with keys of its own): the engine then skips the per-id disposition sort.
    merges: bool = True
    # "select": the SQL file is one SELECT of candidate rows the engine applies (the default);
    # "script": the SQL file writes the table itself (reference data such as ref.codes, see
    # hms_pipeline.engine.scripted).
    kind: str = "select"
    # Materialized views over this table ("schema.view", each with the unique index a concurrent
    # refresh needs), refreshed concurrently at the end of the table's transaction when it wrote
    # or soft-deleted rows (so a view is never behind the committed table, and a run that changes
    # nothing refreshes nothing).
    refreshes: tuple[str, ...] = ()
    # An append-only table (an immutable ledger): a row once written is never changed or soft-deleted
    # (its own trigger refuses it); the transform emits every stored row again unchanged and adds
    # rows (a correction is a new row). Such a row keeps the parent it was written with, and a
    # reversal must name that parent: the pre-flight accepts a soft-deleted parent (it must exist)
    # and reconciliation does not count a live row pointing at one.
    append_only: bool = False
    # Planner settings for this table's transaction ("set local"), e.g. {"enable_nestloop": "off"}
    # where a transform joins large CTE scans whose row estimates are unknowable: a nested loop over
    # them is quadratic (pharmacy.rx_lines at 100k: > 9 min with, 59 s without).
    planner: tuple[tuple[str, str], ...] = ()
    # Explicit transform file (tests, or a table whose SQL lives elsewhere); default sql/<schema>/<table>.sql
    transform_path: Path | None = None

    def __post_init__(self):
        for name, _ in self.planner:
            if name not in PLANNER_SETTINGS:
                raise ValueError(f"{self.schema}.{self.table}: planner setting {name!r} is not one of {sorted(PLANNER_SETTINGS)}")
        if self.kind not in ("select", "script"):
            raise ValueError(f"{self.schema}.{self.table}: kind must be 'select' or 'script', not {self.kind!r}")

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def sql_path(self) -> Path:
        if self.transform_path is not None:
            return Path(self.transform_path)
        return sql_file(self.schema, f"{self.sql_name or self.table}.sql")

    @property
    def source_names(self) -> list[str]:
        return [s.legacy_table for s in self.sources]
