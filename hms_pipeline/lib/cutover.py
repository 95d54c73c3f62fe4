"""Phase 3/4 orchestration: ``cutover compat`` / ``rollback`` / ``status`` / ``env``, shared by the
CLI and the Dagster jobs (``cutover_compat``, ``cutover_rollback``) so the UI can run them too.

compat: refuse unless the backfill's blocking checks are green and the legacy tables live in the
canonical database; run a catch-up delta; then block the application's writes (SHARE locks on the
legacy tables: its reads go on), run the final delta inside that window, check the gates again, and
switch (:func:`hms_pipeline.compat.switch.switch_on`) in the same transaction. The application's
writes were blocked from the lock to the commit; that time is printed and recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from hms_pipeline.compat import switch
from hms_pipeline.compat.views import CompatError
from hms_pipeline.lib.jobs import PHASES
from hms_pipeline.phases import PHASE_ORDER
from hms_pipeline.quality.gates import failing_blocking_checks
from hms_pipeline.resources import HmsDatabaseResource



def backfill_failures(instance: dg.DagsterInstance, asset_graph) -> list:
    """Blocking checks failing in the backfill phase or before it."""
    keys: set[dg.AssetKey] = set()
    for phase in PHASE_ORDER[: PHASE_ORDER.index("backfill") + 1]:
        keys |= set(PHASES[phase].resolve(asset_graph))
    return failing_blocking_checks(instance, keys, asset_graph=asset_graph)


def compat_on(hms_db: HmsDatabaseResource, instance: dg.DagsterInstance, asset_graph,
              run_delta: Callable[[], bool], *, archive_schema: str = switch.DEFAULT_ARCHIVE,
              log: Callable[[str], None] = print) -> switch.SwitchResult:
    settings = hms_db.settings()
    if settings.legacy_is_separate:
        raise CompatError("cutover compat: the legacy tables are on another server (HMS_LEGACY_DATABASE_URL); "
                          "the compatibility views must live beside them: run the switch in the legacy database")
    with hms_db.connect() as conn:
        if switch.compat_is_on(conn):
            raise CompatError("cutover compat: already on (cutover status; cutover rollback to reverse it)")
    failing = backfill_failures(instance, asset_graph)
    if failing:
        raise CompatError("cutover compat refused: blocking check(s) failing: " + ", ".join(str(f) for f in failing[:5]))
    log("catch-up delta (the application keeps writing) ...")
    if not run_delta():
        raise CompatError("cutover compat refused: the catch-up delta failed")
    with hms_db.connect() as conn:
        with conn.transaction():
            tables = switch.legacy_base_tables(conn, settings.legacy_schema)
            log(f"blocking the application's writes on {len(tables)} legacy tables; final delta ...")
            locked_at = time.monotonic()
            switch.lock_legacy(conn, settings.legacy_schema, tables)
            delta_ok = run_delta()
            failing = backfill_failures(instance, asset_graph) if delta_ok else []
            if not delta_ok or failing:
                raise CompatError("cutover compat refused: the final delta "
                                  + ("failed" if not delta_ok else "left blocking check(s) failing: "
                                     + ", ".join(str(f) for f in failing[:5])) + "; nothing was switched")
            result = switch.switch_on(conn, legacy_schema=settings.legacy_schema, archive_schema=archive_schema,
                                      locked_at=locked_at)
        blocked_ms = (time.monotonic() - locked_at) * 1000  # lock to commit
        with conn.transaction():
            switch.record_switch(conn, result, blocked_ms)
        result.locked_at = locked_at
    return result


def compat_off(hms_db: HmsDatabaseResource) -> switch.SwitchResult:
    with hms_db.connect() as conn:
        with conn.transaction():
            return switch.switch_off(conn)


def describe(result: switch.SwitchResult) -> list[str]:
    lines = []
    if result.action == "compat":
        lines.append(f"compatibility views on: {len(result.tables)} legacy tables archived, {len(result.views)} views "
                     f"under the legacy names; application writes blocked {result.lock_ms:.0f} ms")
        for table, v in sorted(result.summary.get("visibility", {}).items()):
            lines.append(f"  {table}: {v['rows']} rows ({v['from_canonical']} from canonical, "
                         f"{v['from_archive']} from the archive until resolved, {v['archived_not_shown']} not shown)")
        if result.summary.get("archived_without_view"):
            lines.append("  archived without a view (the application does not use them): "
                         + ", ".join(result.summary["archived_without_view"]))
    else:
        lines.append(f"compatibility views off: {len(result.tables)} legacy tables back, with every write made "
                     f"through the views; writes since the switch: {result.summary.get('writes_since_switch', {})}")
    return lines


# --- phase 4: the application's .env ---------------------------------------------------------------

BLUEPRINT_FILE = Path(__file__).resolve().parents[2] / "mappings" / "blueprint.txt"


def blueprint_columns(path: Path = BLUEPRINT_FILE) -> dict[str, list[str]]:
    """``schema.table`` -> the columns the blueprint lists for it (its key columns)."""
    import re

    text = path.read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for rel, body in re.findall(r"^([a-z_]+\.[a-z_]+) \(\n(.*?)\n\)", text, re.M | re.S):
        cols = []
        for part in re.split(r",\s*(?![^()]*\))", body.replace("\n", " ")):
            words = part.strip().split()
            if words and re.match(r"^[a-z_][a-z0-9_]*$", words[0]):
                cols.append(words[0])
        out[rel] = cols
    return out


def env_lines(settings) -> list[str]:
    from hms_pipeline.settings import TABLE_DEFAULTS

    return [f"{name}={settings.table(name)}" for name in TABLE_DEFAULTS]


def check_env(conn, settings, role: str) -> list[str]:
    """Problems (empty when none): every ``TABLE_*`` name must resolve, for ``role``, to a relation it
    may read, with the blueprint's columns for that table."""
    from hms_pipeline.settings import TABLE_DEFAULTS

    expected = blueprint_columns()
    problems = []
    for name, default in TABLE_DEFAULTS.items():
        rel = str(settings.table(name))
        row = conn.execute("select to_regclass(%s)::oid", (rel,)).fetchone()
        if row[0] is None:
            problems.append(f"{name}={rel}: no such relation")
            continue
        if not conn.execute("select has_table_privilege(%s, %s::regclass, 'select')", (role, rel)).fetchone()[0]:
            problems.append(f"{name}={rel}: role {role} may not read it")
        have = {r[0] for r in conn.execute(
            "select attname from pg_attribute where attrelid = %s and attnum > 0 and not attisdropped", (row[0],))}
        missing = [c for c in expected.get(default, []) if c not in have]
        if missing:
            problems.append(f"{name}={rel}: missing column(s) {', '.join(missing)}")
    return problems
