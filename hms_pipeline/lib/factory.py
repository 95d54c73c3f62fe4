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

import warnings
from collections.abc import Collection, Iterable
from pathlib import Path

import dagster as dg
from psycopg import sql

from hms_pipeline.engine import conservation, reconcile
from hms_pipeline.engine.reconcile import reconcile_or_reuse
from hms_pipeline.engine.scripted import apply_script, reconcile_script
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.engine.steps import standing_warnings
from hms_pipeline.engine.transform import apply_table, something_written
from hms_pipeline.paths import EXPECTATIONS_DIR, PROJECT_ROOT, report_url
from hms_pipeline.quality.checks import (
    CHECK_NAME,
    LATE_CHECK_NAME,
    evaluate_suite_part,
    split_suite,
    suite_check_description,
    suite_checks,
)
from hms_pipeline.quality.suites import SuiteError, load_suite, preflight_rules, suite_path
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


def run_figures(recon, stats) -> dict[str, int]:
    """A table's figures of a run, named as README "Figures" defines them: its legacy rows as of the
    run's snapshot (the reconciliation's) and the canonical rows the run wrote."""
    return {
        **{k: v for k, v in recon.totals().items() if k != "legacy_rows_missing"},
        "rows_written": stats.written,
        "rows_new": getattr(stats, "new", 0),
        "rows_changed": stats.written - getattr(stats, "new", 0),
        "rows_unchanged": stats.unchanged,
        "rows_soft_deleted": stats.soft_deleted,
    }


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


# the spec each asset of this factory was built from, by the asset's identity (the asset is held, so
# its id is never reused): suite_definitions rebuilds exactly these with their suite checks
_BUILT: dict[int, tuple[dg.AssetsDefinition, TableSpec]] = {}


def _suite_check_specs(spec: TableSpec, key: dg.AssetKey, root: Path, later: Collection[str]) -> list[dg.AssetCheckSpec]:
    """The ERROR (blocking when it has a rule) and WARN parts of the table's suite, evaluated in the
    table's own step; the late part is a check of its own (it waits for the later tables)."""
    if not suite_path(spec.name, root).is_file():
        return []
    parts = split_suite(load_suite(spec.name, root, validate=False), later)
    return [dg.AssetCheckSpec(name, asset=key, blocking=name == CHECK_NAME and bool(part.counts()["ERROR"]),
                              description=suite_check_description(spec.name, name, part))
            for name, part in parts.items() if name != LATE_CHECK_NAME]


def _suite_results(hms_db: HmsDatabaseResource, run_id: str, spec: TableSpec, names: list[str], root: Path,
                   later: Collection[str], log, conn) -> list[dg.AssetCheckResult]:
    out = []
    for name in names:
        try:
            out.append(evaluate_suite_part(hms_db, run_id, spec.name, name, later=later, root=root, log=log,
                                           conn=conn))
        except SuiteError as exc:  # a reviewer's edit broke the file: the check fails, naming why
            out.append(dg.AssetCheckResult(check_name=name, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                           description=f"the suite could not run: {exc}"[:1000]))
    return out


def _engine_check_results(conn, spec: TableSpec, run_id: str, selected: Collection[str], *, recon=None,
                          stats=None, idle: bool = True) -> list[dg.AssetCheckResult]:
    """The results of the engine's checks among ``selected``: conservation (money and stock
    identities), reconciliation and warnings. ``recon`` / ``stats``: the table's step just ran
    (else the checks run alone, over the table as it stands)."""
    key = asset_key(spec.name)
    out = []
    wanted = any(conservation.check_name(p) in selected for p in conservation.check_files(spec))
    conserved = conservation.run_checks_or_reuse(conn, spec, run_id, idle=idle) if wanted else []
    out += [dg.AssetCheckResult(
        asset_key=key,
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
    ) for c in conserved if c.name in selected]
    if RECONCILIATION in selected:
        if recon is None:
            recon = (reconcile.record(conn, reconcile_script(conn, spec), run_id) if spec.kind == "script"
                     else reconcile_or_reuse(conn, spec, run_id, idle=True))
        out.append(dg.AssetCheckResult(
            asset_key=key,
            check_name=RECONCILIATION,
            passed=recon.ok,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(recon.problems()) or "all legacy rows accounted for",
            metadata={
                "sources": dg.MetadataValue.md(recon.markdown()),
                "missing": dg.MetadataValue.int(sum(s.missing for s in recon.sources)),
            },
        ))
    if WARNINGS in selected:
        # counted again unless the table's step just ran idle (alone from the UI: always counted)
        standing, change = standing_warnings(conn, spec.name, run_id, idle=stats is not None and idle)
        out.append(dg.AssetCheckResult(
            asset_key=key,
            check_name=WARNINGS,
            passed=not standing,
            severity=dg.AssetCheckSeverity.WARN,
            description=_warnings_text(standing, change),
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in standing.items()},
                "change_since_last_run": dg.MetadataValue.json(change),
                "written_this_run": dg.MetadataValue.json(stats.warnings if stats is not None else {}),
            },
        ))
    return out


def canonical_table_asset(spec: TableSpec, *, expectations_root: Path = EXPECTATIONS_DIR,
                          later: Collection[str] | None = None) -> dg.AssetsDefinition:
    """One canonical table's asset, with its ``reconciliation``, ``warnings`` and conservation
    checks, and, when ``later`` (the canonical tables not upstream of it) is given, the ERROR and
    WARN parts of its GX suite: all evaluated in the table's own step (one Dagster step per table,
    not one per check: about 0.1 s of overhead each)."""
    key = asset_key(spec.name)
    suite_specs = [] if later is None else _suite_check_specs(spec, key, expectations_root, later)
    transform = _transform_path(spec)
    sources = ", ".join(spec.source_names) or "settings only"
    description = f"{spec.description.strip()}\n\nLegacy sources: {sources}. Transform: `{_relative(transform)}`."
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13: no warning per table on stderr
        warnings.simplefilter("ignore", dg.BetaWarning)
        refs = [dg.LocalFileCodeReference(file_path=str(transform), label="transform (SQL)")]
        refs += [dg.LocalFileCodeReference(file_path=str(p), label=f"{conservation.check_name(p)} (SQL)")
                 for p in conservation.check_files(spec)]
        suite = suite_path(spec.name, expectations_root)
        if suite.is_file():
            refs.append(dg.LocalFileCodeReference(file_path=str(suite), label="expectation suite (GX)"))
        code_references = dg.CodeReferencesMetadataValue(code_references=refs)

    # A multi-asset of one table, so that its checks can be subset: a job may leave the suite
    # checks out, and the UI can run a check alone (then the table is not re-materialized).
    @dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[dg.AssetSpec(
            key,
            group_name=spec.schema,
            deps=[LEGACY_SNAPSHOT_KEY, *(asset_key(d) for d in spec.deps)],
            description=description,
            kinds={"postgres"},
            tags={"phase": spec.phase},
            owners=[OWNERS[spec.schema]] if spec.schema in OWNERS else [],
            metadata={
                "dagster/table_name": spec.name,
                "dagster/code_references": code_references,
                TRANSFORM_METADATA: _relative(transform),
            },
            skippable=False,
        )],
        check_specs=[*_check_specs(key, spec), *suite_specs],
        can_subset=True,
    )
    def _asset(context: dg.AssetExecutionContext, hms_db: HmsDatabaseResource, backfill_options: BackfillOptions):
        selected = {k.name for k in context.selected_asset_check_keys}
        suite_names = [c.name for c in suite_specs if c.name in selected]
        if key not in context.selected_asset_keys:  # checks run alone: the table as it stands
            with hms_db.connect() as conn:
                results = _engine_check_results(conn, spec, context.run_id, selected)
                conn.commit()
                results += _suite_results(hms_db, context.run_id, spec, suite_names, expectations_root,
                                          later or (), context.log, conn)
            yield from results
            return
        full = backfill_options.full_refresh
        with hms_db.connect() as conn:
            if spec.kind == "script":
                stats = apply_script(conn, spec, context.run_id)
                recon = reconcile.record(conn, reconcile_script(conn, spec), context.run_id)
            else:
                # the suite's row-level ERROR rules are a pre-flight too (read now: a reviewer may
                # have edited the file): one bad legacy row is quarantined, it never blocks the phase
                rules = preflight_rules(load_suite(spec.name, expectations_root, validate=False))
                stats = apply_table(conn, spec, context.run_id, full=full, params=transform_params(hms_db),
                                    row_rules=rules)
                idle = not full and stats.todo == 0 and not something_written(conn, context.run_id)
                recon = reconcile_or_reuse(conn, spec, context.run_id, idle=idle)
            facts = table_facts(conn, spec.name)
            idle = spec.kind != "script" and not full and stats.todo == 0 and not something_written(conn, context.run_id)
            engine = _engine_check_results(conn, spec, context.run_id, selected, recon=recon, stats=stats, idle=idle)
            conn.commit()
            suite_results = _suite_results(hms_db, context.run_id, spec, suite_names, expectations_root,
                                           later or (), context.log, conn)
        if full or stats.todo or stats.written:  # an idle table's figures are in its materialization; no log event
            context.log.info(
                "%s: %d candidates, %d written, %d unchanged, %d merged, %d quarantined, %d soft-deleted in %.2fs",
                spec.name, stats.candidates, stats.written, stats.unchanged, stats.merged, stats.quarantined,
                stats.soft_deleted, stats.seconds,
            )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **facts,
                # the one vocabulary of figures (README "Figures"): the same numbers as the report's
                # summary.json, the CLI summary and the reconciliation check
                **{k: dg.MetadataValue.int(v) for k, v in run_figures(recon, stats).items()},
                "warnings": dg.MetadataValue.json(stats.warnings),
                # rows the constraint pre-flight quarantined, per reason (and suite rules it could not evaluate)
                "preflight": dg.MetadataValue.json(stats.preflight),
                "preflight_rule_errors": dg.MetadataValue.json(stats.rule_errors),
                "seconds": dg.MetadataValue.float(float(stats.seconds)),
                "preflight_seconds": dg.MetadataValue.float(float(getattr(stats, "preflight_seconds", 0.0))),
                # where the table's seconds went, per engine step (transform, preflight, upsert, ...)
                "step_seconds": dg.MetadataValue.json(dict(getattr(stats, "step_seconds", {}) or {})),
                "reconciliation": dg.MetadataValue.md(recon.markdown()),
                # the run's validation report (written when the run ends), served by `hms-pipeline dev`
                "report": dg.MetadataValue.url(report_url(hms_db.settings().reports_url, context.run_id)),
            },
            check_results=[*engine, *suite_results],
        )

    _BUILT[id(_asset)] = (_asset, spec)
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
    """``defs`` (the whole code location: a rule reading a table of another schema needs that
    schema's assets) with the GX suite checks of every canonical table that has a suite file, split
    by :func:`hms_pipeline.quality.checks.split_suite`.

    The tables this factory built are rebuilt with their ``expectations`` (ERROR rules, blocking)
    and ``expectations_warn`` (WARN rules) evaluated inside their own step. A rule naming a
    canonical table that is not upstream of its table (so may be loaded after it) goes to the
    ``expectations_late`` check, a step of its own that depends on that table: the verdict does not
    depend on the order the tables ran in. Assets of other origins get all their suite checks as
    checks of their own. Returns the complete Definitions (``defs`` with those replacements)."""
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
    assets, folded = [], set()
    for a in defs.assets or []:
        entry = _BUILT.get(id(a))
        if entry is not None and entry[0] is a:
            built = entry[1]
            assets.append(canonical_table_asset(built, expectations_root=expectations_root,
                                                later=later.get(built.name, set())))
            folded.add(built.name)
        else:
            assets.append(a)
    names = [t for t in sorted(tables) if suite_path(t, expectations_root).is_file()]
    checks = [*suite_checks([t for t in names if t not in folded], later=later, root=expectations_root),
              *suite_checks([t for t in names if t in folded], later=later, root=expectations_root,
                            only=(LATE_CHECK_NAME,))]
    return dg.Definitions(
        assets=assets, asset_checks=[*(defs.asset_checks or []), *checks], schedules=defs.schedules,
        sensors=defs.sensors, jobs=defs.jobs, resources=defs.resources, executor=defs.executor,
        loggers=defs.loggers, metadata=defs.metadata,
    )
