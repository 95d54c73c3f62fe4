"""The table factory: the only place that knows how a canonical table becomes Dagster objects.

A canonical table is its name in three places that mirror each other:

- its spec (:class:`~hms_pipeline.engine.spec.TableSpec`) in ``hms_pipeline/defs/<schema>/``;
- its transform ``sql/<schema>/<table>.sql``;
- its GX suite ``expectations/<schema>/<table>.json``.

:func:`table_definitions` turns a schema's specs into one asset per table, each with the engine's
checks: ``reconciliation`` (blocking), ``warnings`` (rows carrying a warning now; never blocking),
and one blocking ``conservation_<name>`` per file in ``sql/<schema>/<table>.checks/`` (money and
stock identities, :mod:`hms_pipeline.engine.conservation`). :func:`suite_definitions` adds the GX
suite checks over the whole location: ``expectations`` (the ERROR rules, blocking),
``expectations_warn`` (the WARN rules) and ``expectations_late`` (rules reading tables loaded later).
A spec whose transform or suite file is missing fails here, when the definitions load, naming the
file to add.
"""

# No "from __future__ import annotations": Dagster reads the asset function's annotations at runtime.

from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from psycopg import sql

from hms_pipeline.engine import conservation
from hms_pipeline.engine.reconcile import reconcile_or_reuse
from hms_pipeline.engine.scripted import apply_script, reconcile_script
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.steps import standing_warnings
from hms_pipeline.engine.transform import apply_table, something_written
from hms_pipeline.paths import EXPECTATIONS_DIR, PROJECT_ROOT
from hms_pipeline.quality.checks import suite_checks
from hms_pipeline.quality.suites import load_suite, preflight_rules, suite_path
from hms_pipeline.resources import BackfillOptions, HmsDatabaseResource

LEGACY_SNAPSHOT_KEY = dg.AssetKey(["etl", "legacy_snapshot"])
# the schema phase's asset: upstream of the snapshot, so of every canonical table ("Materialize all"
# orders the DDL before the data)
CANONICAL_SCHEMA_KEY = dg.AssetKey("canonical_schema")
RECONCILIATION = "reconciliation"
WARNINGS = "warnings"
TRANSFORM_METADATA = "hms/transform"  # the transform file, relative to the project (discovery reads it)


class MissingHomeError(Exception):
    """A canonical table lacks one of its files (spec, transform, suite); the message names it."""


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name.split("."))


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def transform_params(hms_db: HmsDatabaseResource) -> dict:
    """Values every transform may use (bound parameters, never formatted into SQL)."""
    s = hms_db.settings()
    return {"facility_name": s.facility_name, "facility_tz": s.facility_timezone}


# Who answers for a schema's tables (Dagster owners: shown in the UI and searchable).
OWNERS = {
    "core": "team:registration",
    "clinical": "team:clinical",
    "inpatient": "team:clinical",
    "pharmacy": "team:pharmacy",
    "billing": "team:finance",
    "ref": "team:data-platform",
}


def table_facts(conn, name: str) -> dict:
    """Dagster's standard table metadata from the catalog: ``dagster/row_count`` (live rows) and
    ``dagster/column_schema`` (name, type, nullability and comment of every column)."""
    schema, table = name.split(".")
    cols = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum)
           from pg_attribute a where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
           order by a.attnum""", (name,)).fetchall()
    live = sql.SQL(" where deleted_at is null") if any(c[0] == "deleted_at" for c in cols) else sql.SQL("")
    rows = conn.execute(sql.SQL("select count(*) from {}{}").format(sql.Identifier(schema, table), live)).fetchone()[0]
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn(n, t, description=d, constraints=dg.TableColumnConstraints(nullable=not nn))
            for n, t, nn, d in cols]),
    }


def _check_specs(key: dg.AssetKey, spec: TableSpec) -> list[dg.AssetCheckSpec]:
    return [
        *(dg.AssetCheckSpec(conservation.check_name(p), asset=key, blocking=True,
                            description=conservation.description(p))
          for p in conservation.check_files(spec)),
        dg.AssetCheckSpec(
            RECONCILIATION, asset=key, blocking=True,
            description="every consumed legacy row is loaded, merged or quarantined; no live row points at "
            "a soft-deleted parent",
        ),
        dg.AssetCheckSpec(
            WARNINGS, asset=key, blocking=False,
            description="rows carrying a WARN now, with the change since the last run (unmapped vocabulary "
            "value kept as NULL, unresolved free-text doctor name, inferred encounter...)",
        ),
    ]


def _warnings_text(standing: dict[str, int], change: dict[str, int]) -> str:
    """``INFERRED_ENCOUNTER: 20048 (+12 since the last run)``: rows carrying each warning now."""
    parts = [f"{k}: {v}" + (f" ({change[k]:+d} since the last run)" if change.get(k) else "")
             for k, v in standing.items()]
    parts += [f"{k}: 0 ({d:+d} since the last run)" for k, d in change.items() if k not in standing]
    return ", ".join(parts) or "no warnings"


def _transform_path(spec: TableSpec) -> Path:
    try:
        return spec.sql_path
    except FileNotFoundError:
        raise MissingHomeError(
            f"{spec.name}: its transform is missing: add sql/{spec.schema}/{spec.sql_name or spec.table}.sql "
            f"(or remove its spec from hms_pipeline/defs/{spec.schema}/)") from None


def canonical_table_asset(spec: TableSpec, *, expectations_root: Path = EXPECTATIONS_DIR) -> dg.AssetsDefinition:
    """One canonical table's asset, with its ``reconciliation`` and ``warnings`` checks."""
    key = asset_key(spec.name)
    transform = _transform_path(spec)
    sources = ", ".join(spec.source_names) or "settings only"
    description = f"{spec.description.strip()}\n\nLegacy sources: {sources}. Transform: `{_relative(transform)}`."
    refs = [dg.LocalFileCodeReference(file_path=str(transform), label="transform (SQL)")]
    refs += [dg.LocalFileCodeReference(file_path=str(p), label=f"{conservation.check_name(p)} (SQL)")
             for p in conservation.check_files(spec)]
    suite = suite_path(spec.name, expectations_root)
    if suite.is_file():
        refs.append(dg.LocalFileCodeReference(file_path=str(suite), label="expectation suite (GX)"))

    @dg.asset(
        key=key,
        group_name=spec.schema,
        deps=[LEGACY_SNAPSHOT_KEY, *(asset_key(d) for d in spec.deps)],
        description=description,
        kinds={"postgres"},
        tags={"phase": spec.phase},
        owners=[OWNERS[spec.schema]] if spec.schema in OWNERS else None,
        metadata={
            "dagster/table_name": spec.name,
            "dagster/code_references": dg.CodeReferencesMetadataValue(code_references=refs),
            TRANSFORM_METADATA: _relative(transform),
        },
        check_specs=_check_specs(key, spec),
    )
    def _asset(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource, backfill_options: BackfillOptions):
        full = backfill_options.full_refresh
        with hms_db.connect() as conn:
            if spec.kind == "script":
                stats = apply_script(conn, spec, context.run_id)
                recon = reconcile_script(conn, spec)
            else:
                # the suite's row-level ERROR rules are a pre-flight too (read now: a reviewer may
                # have edited the file): one bad legacy row is quarantined, it never blocks the phase
                rules = preflight_rules(load_suite(spec.name, expectations_root, validate=False))
                stats = apply_table(conn, spec, context.run_id, full=full, params=transform_params(hms_db),
                                    row_rules=rules)
                idle = not full and stats.todo == 0 and not something_written(conn, context.run_id)
                recon = reconcile_or_reuse(conn, spec, context.run_id, idle=idle)
            facts = table_facts(conn, spec.name)
            conserved = conservation.run_checks_or_reuse(
                conn, spec, context.run_id,
                idle=spec.kind != "script" and not full and stats.todo == 0 and not something_written(conn, context.run_id))
            standing, change = standing_warnings(conn, spec.name, context.run_id)
        context.log.info(
            "%s: %d candidates, %d written, %d unchanged, %d merged, %d quarantined, %d soft-deleted in %.2fs",
            spec.name, stats.candidates, stats.written, stats.unchanged, stats.merged, stats.quarantined,
            stats.soft_deleted, stats.seconds,
        )
        seen = sum(s.seen for s in recon.sources)
        yield dg.MaterializeResult(
            metadata={
                **facts,
                "rows_seen": dg.MetadataValue.int(seen),
                "loaded": dg.MetadataValue.int(stats.written),
                "merged": dg.MetadataValue.int(stats.merged),
                "quarantined": dg.MetadataValue.int(stats.quarantined),
                "unchanged": dg.MetadataValue.int(stats.unchanged),
                "soft_deleted": dg.MetadataValue.int(stats.soft_deleted),
                "warnings": dg.MetadataValue.json(stats.warnings),
                # rows the constraint pre-flight quarantined, per reason (and suite rules it could not evaluate)
                "preflight": dg.MetadataValue.json(stats.preflight),
                "preflight_rule_errors": dg.MetadataValue.json(stats.rule_errors),
                "seconds": dg.MetadataValue.float(float(stats.seconds)),
                "preflight_seconds": dg.MetadataValue.float(float(getattr(stats, "preflight_seconds", 0.0))),
                "reconciliation": dg.MetadataValue.md(recon.markdown()),
            },
            check_results=[
                *(dg.AssetCheckResult(
                    check_name=c.name,
                    passed=c.ok,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=c.summary(),
                    metadata={
                        "subjects": dg.MetadataValue.int(c.subjects),
                        "violations": dg.MetadataValue.int(c.violations),
                        "expected_total": dg.MetadataValue.float(float(c.expected_total)),
                        "actual_total": dg.MetadataValue.float(float(c.actual_total)),
                        "violating_subjects": dg.MetadataValue.json(c.sample),
                    },
                ) for c in conserved),
                dg.AssetCheckResult(
                    check_name=RECONCILIATION,
                    passed=recon.ok,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="; ".join(recon.problems()) or "all legacy rows accounted for",
                    metadata={
                        "sources": dg.MetadataValue.md(recon.markdown()),
                        "missing": dg.MetadataValue.int(sum(s.missing for s in recon.sources)),
                    },
                ),
                dg.AssetCheckResult(
                    check_name=WARNINGS,
                    passed=not standing,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=_warnings_text(standing, change),
                    metadata={
                        **{k: dg.MetadataValue.int(v) for k, v in standing.items()},
                        "change_since_last_run": dg.MetadataValue.json(change),
                        "written_this_run": dg.MetadataValue.json(stats.warnings),
                    },
                ),
            ],
        )

    return _asset


def table_definitions(specs: Iterable[TableSpec], *, expectations_root: Path = EXPECTATIONS_DIR) -> dg.Definitions:
    """A schema's canonical tables: one asset per spec with its engine checks (the GX suite checks
    are added over the whole location by :func:`suite_definitions`: which rules run late depends on
    the other schemas' tables).

    Raises :class:`MissingHomeError` naming the file when a table's transform or suite is missing:
    a table cannot lose its checks silently."""
    specs = list(specs)
    missing = []
    for spec in specs:
        try:
            _transform_path(spec)
        except MissingHomeError as exc:
            missing.append(str(exc))
        suite = suite_path(spec.name, expectations_root)
        if not suite.is_file():
            missing.append(f"{spec.name}: its expectation suite is missing: add {_relative(suite)} "
                           "(see expectations/README.md)")
    if missing:
        raise MissingHomeError("; ".join(missing))
    return dg.Definitions(assets=[canonical_table_asset(s, expectations_root=expectations_root)
                                  for s in specs])


def suite_definitions(defs: dg.Definitions, *, expectations_root: Path = EXPECTATIONS_DIR) -> dg.Definitions:
    """The GX suite checks of every canonical table of ``defs`` (the whole code location: a rule
    reading a table of another schema needs that schema's assets) that has a suite file, split by
    :func:`hms_pipeline.quality.checks.split_suite`. A rule naming a canonical table that is not
    upstream of its table (so may be loaded after it) goes to the ``expectations_late`` check,
    which depends on that table: the verdict does not depend on the order the tables ran in."""
    graph = defs.resolve_asset_graph()
    tables = {".".join(k.path): k for k in graph.materializable_asset_keys if len(k.path) == 2}
    upstream: dict[dg.AssetKey, frozenset[dg.AssetKey]] = {}

    def ancestors(key: dg.AssetKey) -> frozenset[dg.AssetKey]:
        if key not in upstream:
            parents = graph.get(key).parent_keys if graph.has(key) else set()
            upstream[key] = frozenset(parents).union(*(ancestors(p) for p in parents))
        return upstream[key]

    later = {name: {t for t, k in tables.items() if k not in ancestors(key) and k != key}
             for name, key in tables.items()}
    names = [t for t in sorted(tables) if suite_path(t, expectations_root).is_file()]
    return dg.Definitions(asset_checks=suite_checks(names, later=later, root=expectations_root))
