"""Check factory: the asset checks of each canonical table that has an expectation suite.

A suite is split into up to three checks, each run inside Postgres
(:mod:`hms_pipeline.quality.gx_runner`) over its own rules:

- ``expectations``: the ERROR rules, *blocking*: when one fails the result has ERROR severity and
  Dagster skips everything downstream (and the phase gates close);
- ``expectations_warn``: the WARN rules, never blocking (a failure is a warning);
- ``expectations_late``: the rules (either severity) whose SQL reads a canonical table that is not
  upstream of the table in the asset graph, so is loaded later (``additional_deps`` on those
  tables: the check runs once they are loaded, and a first run and a re-run agree). Never
  blocking (the tables downstream already ran); a failed ERROR rule gives ERROR severity and the
  check carries the ``hms/gates`` metadata, so the phase gates count it.

Which rules are late is found from the graph (:func:`late_rule_indexes`, the tables a rule's SQL
names with :data:`_CANONICAL_REF`), never from a hand list. Each check writes its part of the
PHI-free outcome to ``<reports dir>/<run id>/checks/<schema>.<table>.json`` (merged with the parts
the table's other checks wrote in the run; the run report is built from these files).

Suites are read when the definitions load (to split them and know whether a check blocks) but GX is
imported only when a check runs, so loading the code location stays fast.
"""

# No "from __future__ import annotations": Dagster reads the check function's annotations at runtime.
import dataclasses
import fcntl
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path

import dagster as dg
from psycopg import sql
from psycopg.types.json import Jsonb

from hms_pipeline.paths import EXPECTATIONS_DIR, outcome_path, report_url, run_dir  # noqa: F401 (re-exported)
from hms_pipeline.quality.gates import GATES_METADATA  # a non-blocking check the gates still count
from hms_pipeline.quality.suites import Suite, SuiteExpectation, load_suite, suite_path
from hms_pipeline.resources import HmsDatabaseResource

CHECK_NAME = "expectations"  # the ERROR rules (blocking)
WARN_CHECK_NAME = "expectations_warn"  # the WARN rules (never blocking)
LATE_CHECK_NAME = "expectations_late"  # the rules reading tables loaded later (never blocking)
SUITE_CHECK_NAMES = (CHECK_NAME, WARN_CHECK_NAME, LATE_CHECK_NAME)


_CANONICAL_REF = re.compile(r"\b(?:core|clinical|inpatient|pharmacy|billing|ops|ref)\.[a-z_]+\b")
_QUOTED_TABLE = re.compile(r"'((?:core|clinical|inpatient|pharmacy|billing|ref)\.[a-z_]+)'")
ID_MAP = "ops.legacy_id_map"


def referenced_tables(e: SuiteExpectation) -> set[str]:
    """The canonical tables an expectation's kwargs (its SQL) name."""
    return set(_CANONICAL_REF.findall(json.dumps(e.kwargs)))


def late_rule_indexes(suite: Suite, later: Collection[str]) -> set[int]:
    """The expectations of ``suite`` whose SQL names one of ``later`` (tables not upstream of it)."""
    later = set(later) - {suite.table}
    return {e.index for e in suite.expectations if referenced_tables(e) & later}


def split_suite(suite: Suite, later: Collection[str] = ()) -> dict[str, Suite]:
    """check name -> the part of ``suite`` it runs (parts without a rule are left out, except
    ``expectations``, which every suite has)."""
    late = late_rule_indexes(suite, later)
    parts = {
        CHECK_NAME: [e for e in suite.expectations if e.index not in late and e.severity == "ERROR"],
        WARN_CHECK_NAME: [e for e in suite.expectations if e.index not in late and e.severity != "ERROR"],
        LATE_CHECK_NAME: [e for e in suite.expectations if e.index in late],
    }
    return {name: dataclasses.replace(suite, expectations=tuple(rules))
            for name, rules in parts.items() if rules or name == CHECK_NAME}


def data_fingerprint(conn, table: str, suite_file: Path, part: Suite | None = None) -> str:
    """What a suite's result depends on: the suite file (or only the rules of ``part``), the legacy
    snapshot, and the row count and latest ``updated_at`` of the table and of every canonical table
    the rules' SQL names (so edits made outside the pipeline count too). Equal fingerprints => the
    previous outcome holds.

    ``ops.legacy_id_map`` counts by its latest ``mapped_at`` (a remap moves it), and only over the
    canonical tables the rules name as literals (``m.canonical_table = 'pharmacy.items'``) when they
    name some: its other partitions fill up as later tables load, which made every rule reading the
    map run again on the first re-run of a full load, with nothing it reads changed."""
    if part is None:
        text = Path(suite_file).read_text(encoding="utf-8")
        scope = text
    else:
        raw = part.raw.get("expectations") or []
        text = json.dumps([raw[e.index] for e in part.expectations if e.index < len(raw)], sort_keys=True)
        scope = json.dumps([e.kwargs for e in part.expectations], sort_keys=True)  # the SQL, not the prose
    parts = [hashlib.md5(text.encode()).hexdigest()]
    parts.append(str(conn.execute("select coalesce(max(snapshot_seq), 0) from etl.stage_runs").fetchone()[0]))
    for name in sorted({table, *_CANONICAL_REF.findall(scope)}):
        if conn.execute("select to_regclass(%s) is null", (name,)).fetchone()[0]:
            continue
        if name == ID_MAP:
            named = sorted(set(_QUOTED_TABLE.findall(scope)))
            rows, latest = conn.execute(
                "select count(*), max(mapped_at)::text from ops.legacy_id_map"
                " where cardinality(%(named)s::text[]) = 0 or canonical_table = any(%(named)s::text[])",
                {"named": named}).fetchone()
            parts.append(f"{name}[{','.join(named)}]={rows}@{latest}")
            continue
        schema, rel = name.split(".")
        has_updated_at = conn.execute(
            "select exists (select 1 from pg_attribute where attrelid = %s::regclass and attname = 'updated_at')",
            (name,)).fetchone()[0]
        stamp = sql.SQL("max(updated_at)::text") if has_updated_at else sql.SQL("''")
        rows, latest = conn.execute(
            sql.SQL("select count(*), {} from {}").format(stamp, sql.Identifier(schema, rel))).fetchone()
        parts.append(f"{name}={rows}@{latest}")
    return ":".join(parts)


def _asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def _gx_index(result: dict) -> int:
    return int(((result.get("expectation_config") or {}).get("meta") or {}).get("_index", -1))


def write_part(path: Path, outcome):
    """Write a check's part of a table's outcome into the run's file, merged with the parts the
    table's other checks already wrote there (the file is the run's: its folder is per run)."""
    from hms_pipeline.quality.gx_runner import SuiteOutcome

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            old = SuiteOutcome.read(path)
            mine = {e.index for e in outcome.expectations}
            kept = [e for e in old.expectations if e.index not in mine]
            results = [r for r in (old.gx_result.get("results") or []) if _gx_index(r) not in mine]
            gx_result = {**old.gx_result, **outcome.gx_result,
                         "results": results + list(outcome.gx_result.get("results") or [])}
            outcome = dataclasses.replace(
                outcome, started_at=min(old.started_at, outcome.started_at) or outcome.started_at,
                seconds=old.seconds + outcome.seconds, gx_result=gx_result,
                expectations=sorted(kept + list(outcome.expectations), key=lambda e: e.index))
        outcome.write(path)
    return outcome


def suite_check_description(table: str, check_name: str, part: Suite, late_deps: Collection[str] = ()) -> str:
    counts = part.counts()
    what = {CHECK_NAME: "its ERROR rules (blocking)", WARN_CHECK_NAME: "its WARN rules (never blocking)",
            LATE_CHECK_NAME: f"its rules reading tables loaded later ({', '.join(late_deps)}), run once "
                             "they are loaded (never blocking)"}[check_name]
    return (f"GX suite `expectations/{table.replace('.', '/')}.json`, {what}: {counts['ERROR']} ERROR "
            f"and {counts['WARN']} WARN expectations, run inside Postgres.")


def suite_part(table: str, check_name: str, later: Collection[str] = (), root: Path = EXPECTATIONS_DIR,
               *, validate: bool = False) -> Suite:
    """The rules of ``table``'s suite that check ``check_name`` runs (none: an empty part)."""
    suite = load_suite(table, root, validate=validate)
    return split_suite(suite, later).get(check_name) or dataclasses.replace(suite, expectations=())


def evaluate_suite_part(hms_db: HmsDatabaseResource, run_id: str, table: str, check_name: str, *,
                        later: Collection[str] = (), root: Path = EXPECTATIONS_DIR,
                        log=None, conn=None) -> dg.AssetCheckResult:
    """Run check ``check_name`` of ``table`` (one part of its suite, :func:`split_suite`), or keep its
    last outcome when nothing it reads changed (:func:`data_fingerprint`), and write the run's part
    of the PHI-free outcome file. Used by the separate late checks and, inside the table's own
    step, by the factory (:mod:`hms_pipeline.lib.factory`) for the ERROR and WARN parts."""
    from hms_pipeline.quality.gx_runner import SuiteOutcome, run_suite

    settings = hms_db.settings()
    # Re-read: a reviewer may have edited the file (the rules are split the same way). Full
    # validation imports GX (5-10 s): it runs only when the suite is to be run, since a reused
    # outcome's fingerprint holds the rules' text, validated when that outcome was stored.
    current = suite_part(table, check_name, later, root)
    with (hms_db.connect() if conn is None else nullcontext(conn)) as conn:
        fingerprint = data_fingerprint(conn, table, suite_path(table, root), current)
        previous = conn.execute(
            """select outcome, run_id from etl.suite_check_state
               where canonical_table = %s and check_name = %s and fingerprint = %s""",
            (table, check_name, fingerprint),
        ).fetchone()
        conn.commit()
        reused_from = None
        if previous is not None:
            outcome = SuiteOutcome.from_dict(previous[0])
            reused_from = previous[1]
        else:
            current = suite_part(table, check_name, later, root, validate=True)
            outcome = run_suite(hms_db.canonical_url(), table, current, run_id=run_id)
            conn.execute(
                """insert into etl.suite_check_state
                       (canonical_table, check_name, fingerprint, outcome, run_id)
                   values (%s, %s, %s, %s, %s)
                   on conflict (canonical_table, check_name) do update
                   set fingerprint = excluded.fingerprint, outcome = excluded.outcome,
                       run_id = excluded.run_id, evaluated_at = now()""",
                (table, check_name, fingerprint, Jsonb(outcome.to_dict()), run_id),
            )
            conn.commit()
    write_part(outcome_path(settings.reports_dir, run_id, table), outcome)
    if log is not None and not reused_from:
        log.info(f"{table} {check_name}: " + outcome.summary_line())
    report = run_dir(settings.reports_dir, run_id) / "index.html"
    result = outcome.to_check_result(check_name=check_name, report_path=report,
                                     report_url=report_url(settings.reports_url, run_id))._replace(asset_key=_asset_key(table))
    if reused_from:
        result = result._replace(metadata={**result.metadata, "reused_from_run": dg.MetadataValue.text(reused_from)})
    return result


def suite_check(table: str, *, check_name: str = CHECK_NAME, later: Collection[str] = (),
                root: Path = EXPECTATIONS_DIR) -> dg.AssetChecksDefinition:
    """The asset check ``check_name`` (one of :data:`SUITE_CHECK_NAMES`) of one table's suite, as its
    own step; ``later`` are the canonical tables not upstream of the table (see :func:`split_suite`).
    The canonical tables built by the factory evaluate their ERROR and WARN parts inside their own
    step instead (no step of their own: see :func:`hms_pipeline.lib.factory.suite_definitions`)."""
    part = suite_part(table, check_name, later, root)  # full validation (imports GX) happens at run time
    counts = part.counts()
    late_deps = sorted({r for e in part.expectations for r in referenced_tables(e)} & (set(later) - {table}))
    blocking = check_name == CHECK_NAME and bool(counts["ERROR"])
    gates = check_name != CHECK_NAME and bool(counts["ERROR"])

    @dg.asset_check(
        asset=_asset_key(table),
        name=check_name,
        blocking=blocking,
        description=suite_check_description(table, check_name, part, late_deps),
        additional_deps=[_asset_key(t) for t in late_deps] or None,
        metadata={GATES_METADATA: True} if gates else None,
    )
    def _check(context: dg.AssetCheckExecutionContext, hms_db: HmsDatabaseResource) -> dg.AssetCheckResult:
        return evaluate_suite_part(hms_db, context.run.run_id, table, check_name, later=later, root=root,
                                   log=context.log)

    return _check


def suite_checks(table_names: Iterable[str], *, later: Mapping[str, Collection[str]] | None = None,
                 root: Path = EXPECTATIONS_DIR, only: Collection[str] = SUITE_CHECK_NAMES,
                 ) -> list[dg.AssetChecksDefinition]:
    """The suite checks (:func:`split_suite`) of each table of ``table_names`` (``schema.table``)
    that has a suite file; tables without one are left out (the test suite makes sure every
    canonical table has one). ``later``: table -> the canonical tables not upstream of it (none
    given: no rule is late)."""
    later = later or {}
    out = []
    for t in table_names:
        if not suite_path(t, root).is_file():
            continue
        parts = split_suite(load_suite(t, root, validate=False), later.get(t, ()))
        out += [suite_check(t, check_name=name, later=later.get(t, ()), root=root) for name in parts
                if name in only]
    return out
