"""Shared helpers for backfill tests: prepare a database, run the phase, fingerprint the result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from contextlib import contextmanager

import psycopg
from psycopg import sql

from hms_pipeline.sqlrun import apply_ddl

CANONICAL_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ref")
VOLATILE = ("updated_at", "created_by", "updated_by", "deleted_at")
# Append-only ledgers (TableSpec.append_only) and what they sum to. A delta adds the corrections and
# adjustments a full load of the same legacy rows never needs (history is never rewritten), so
# against a full load a ledger is compared by its non-zero balances, not row by row, and its
# provenance is left out (its conservation checks account for every legacy row in both runs).
LEDGER_BALANCES = {
    "pharmacy.inventory_txns": "select facility_id, item_id, batch_id, sum(qty) as qty from pharmacy.inventory_txns"
                               " where deleted_at is null group by 1, 2, 3 having sum(qty) <> 0",
}


def prepare(url: str, *, profile: str = "blueprint", seed: int = 42, scale="tiny", legacy_url: str | None = None):
    """Canonical DDL in ``url``; generated legacy data in ``legacy_url`` (default: the same DB)."""
    from hms_pipeline.legacy.generator import generate

    with psycopg.connect(url) as conn:
        apply_ddl(conn)
    return generate(legacy_url or url, scale=scale, seed=seed, profile=profile)


def backfill_job(targets: Iterable[str] | None = None, *, suites: bool = True):
    """A job of the real code location (``hms_pipeline.definitions``): the backfill phase, or only
    ``targets`` (``schema.table``) and what they need upstream in that phase. ``suites=False`` leaves
    the GX suite checks out (the reconciliation and warnings checks always run)."""
    import dagster as dg

    from hms_pipeline.definitions import defs

    selection = dg.AssetSelection.tag("phase", "backfill")
    if targets is not None:
        keys = [dg.AssetKey(t.split(".")) for t in targets]
        selection = dg.AssetSelection.assets(*keys).upstream() & selection
    if not suites:
        graph = defs.resolve_asset_graph()
        selection = selection - dg.AssetSelection.checks(*(k for k in graph.asset_check_keys if k.name.startswith("expectations")))
    name = "test_backfill_selection"
    job = dg.define_asset_job(name, selection=selection, executor_def=dg.in_process_executor)
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(name)


def run_backfill(monkeypatch, url: str, *, legacy_url: str | None = None, full: bool = False,
                 targets: Iterable[str] | None = None, suites: bool = True):
    """Materialize the backfill phase (or ``targets`` and their upstream, see :func:`backfill_job`)
    in-process against ``url``; returns the Dagster result."""
    import dagster as dg

    monkeypatch.setenv("HMS_DATABASE_URL", url)
    if legacy_url:
        monkeypatch.setenv("HMS_LEGACY_DATABASE_URL", legacy_url)
    else:
        monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    if targets is None and suites:
        from hms_pipeline.definitions import defs

        job = defs.resolve_job_def("phase_backfill")
    else:
        job = backfill_job(targets, suites=suites)
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "ERROR"}}},
            "resources": {"backfill_options": {"config": {"full_refresh": full}}},
        },
    )


def materializations(result) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def failed_checks(result) -> list[str]:
    return [f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description}"
            for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"]


def canonical_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        """select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind = 'r' order by 1""", (list(CANONICAL_SCHEMAS),)).fetchall()]


def fingerprint(url: str, *, ledgers_by_balance: bool = False) -> dict[str, tuple[int, str]]:
    """(live rows, md5) per canonical table, ignoring bookkeeping columns; plus provenance.
    ``ledgers_by_balance``: the append-only ledgers by their balances (LEDGER_BALANCES), without
    their provenance (a delta against a full load)."""
    out = {}
    ledgers = list(LEDGER_BALANCES) if ledgers_by_balance else []
    with psycopg.connect(url) as conn:
        for name in canonical_tables(conn):
            if name in ledgers:
                out[name] = conn.execute(sql.SQL(
                    "select count(*), coalesce(md5(string_agg(r, '|' order by r)), '') from "
                    "(select to_jsonb(b)::text as r from ({}) b) x").format(sql.SQL(LEDGER_BALANCES[name]))).fetchone()
                continue
            schema, table = name.split(".")
            cols = {r[0] for r in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0", (name,))}
            live = sql.SQL("where t.deleted_at is null") if "deleted_at" in cols else sql.SQL("")
            strip = sql.SQL("").join(sql.SQL(" - {}").format(sql.Literal(c)) for c in VOLATILE + ("created_at",))
            out[name] = conn.execute(sql.SQL(
                "select count(*), coalesce(md5(string_agg(r, '|' order by r)), '') from "
                "(select (to_jsonb(t){strip})::text as r from {tbl} t {live}) x"
            ).format(strip=strip, tbl=sql.Identifier(schema, table), live=live)).fetchone()
        # provenance of legacy rows that still exist (a deleted legacy row keeps its history entry)
        for (lt,) in conn.execute("select distinct legacy_table from ops.legacy_id_map where canonical_table <> all(%s) "
                                  "order by 1", (ledgers,)).fetchall():
            staged = conn.execute("select to_regclass(%s) is not null", (f"stg.{lt}",)).fetchone()[0]
            alive = (sql.SQL("and exists (select 1 from {} s where s._key = split_part(m.legacy_key, '#', 1) and not s._deleted)")
                     .format(sql.Identifier("stg", lt)) if staged else sql.SQL(""))
            out[f"ops.legacy_id_map:{lt}"] = conn.execute(sql.SQL(
                """select count(*), md5(string_agg(concat_ws(',', legacy_key, canonical_table, canonical_id, disposition),
                                       '|' order by legacy_key, canonical_table))
                   from ops.legacy_id_map m where legacy_table = %s and canonical_table <> all(%s) {}""").format(alive),
                (lt, ledgers)).fetchone()
        out["ops.quarantine"] = conn.execute(
            """select count(*), md5(string_agg(concat_ws(',', legacy_table, legacy_key, target_table, reason_code),
                                   '|' order by legacy_table, legacy_key, target_table, reason_code))
               from ops.quarantine where resolved_at is null""").fetchone()
    return out


@contextmanager
def backfill_cli(url: str, server_url: str, home, **env_extra):
    """``run(**env)`` runs ``hms-pipeline run --phase backfill`` in a child process against ``url``
    (its own HMS_HOME and Dagster database, dropped on exit); returns the CompletedProcess."""
    from hms_pipeline.db import database_name
    from hms_pipeline.paths import PROJECT_ROOT

    dagster_db = database_name(url) + "_dg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HMS_", "DAGSTER_"))}
    env.update(HMS_DATABASE_URL=url, HMS_HOME=str(home), HMS_DAGSTER_DATABASE=dagster_db, **env_extra)

    def run(**extra):
        return subprocess.run([sys.executable, "-m", "hms_pipeline.cli", "run", "--phase", "backfill"],
                              env={**env, **extra}, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)

    try:
        yield run
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))


class Pipeline:
    """One database, one Dagster instance: the backfill delta and the gates read the same checks.
    ``compat()`` / ``rollback()`` run the cutover the way the CLI does, with this delta."""

    def __init__(self, url: str, monkeypatch):
        import dagster as dg

        self.url = url
        monkeypatch.setenv("HMS_DATABASE_URL", url)
        monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
        self.instance = dg.DagsterInstance.ephemeral()
        self.job = backfill_job(None, suites=False)
        from hms_pipeline.definitions import defs

        self.graph = defs.resolve_asset_graph()

    def delta(self) -> bool:
        return self.job.execute_in_process(
            instance=self.instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}}).success

    def compat(self):
        from hms_pipeline.lib import cutover
        from hms_pipeline.resources import HmsDatabaseResource

        return cutover.compat_on(HmsDatabaseResource(), self.instance, self.graph, self.delta, log=lambda _m: None)

    def rollback(self):
        from hms_pipeline.lib import cutover
        from hms_pipeline.resources import HmsDatabaseResource

        return cutover.compat_off(HmsDatabaseResource())
