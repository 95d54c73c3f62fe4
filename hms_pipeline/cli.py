"""The ``hms-pipeline`` command.

Exit codes: 0 success; 1 the work failed (a step or a blocking check); 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hms_pipeline import db
from hms_pipeline.paths import PROJECT_ROOT
from hms_pipeline.phases import PHASE_ORDER, phase_job_name
from hms_pipeline.settings import Settings, SettingsError, load_settings


LEGACY_PROFILES = ["blueprint", "live", "hostile", "hostile-live"]


class CliError(Exception):
    """A failure the user can act on; printed without a traceback."""

    exit_code = 1


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err = CliError(f"configuration error: {exc}")
        err.exit_code = 2
        raise err from exc


def _where(settings: Settings, url: str) -> str:
    if settings.uses_embedded:
        return f"embedded PostgreSQL in {settings.embedded_pgdata} (stop it with: hms-pipeline db stop)"
    return db.redact_url(url)


# --- db -------------------------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.db_command == "url":
        print(db.canonical_url(settings))
    elif args.db_command == "stop":
        stopped = settings.uses_embedded and db.stop_embedded(settings.embedded_pgdata)
        print("embedded PostgreSQL stopped" if stopped else "no embedded PostgreSQL running")
    elif args.db_command == "status":
        url = db.canonical_url(settings)
        with db.connect(url) as conn:
            version = conn.execute("show server_version").fetchone()[0]
        print(f"canonical: {_where(settings, url)} (PostgreSQL {version})")
        legacy = db.legacy_url(settings)
        print(f"legacy:    {'same database' if legacy == url else db.redact_url(legacy)}"
              f" (schema {settings.legacy_schema})")
    return 0


# --- run ------------------------------------------------------------------------------------------


def _run_config(job, full: bool, accept_deletions: Sequence[str] = ()) -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": args_log_level()}}}}
    if "backfill_options" in job.resource_defs:
        config["resources"] = {"backfill_options": {"config": {
            "full_refresh": full, "accept_deletions": list(accept_deletions)}}}
    return config


def args_log_level() -> str:
    """Dagster's console log level for CLI runs (``HMS_LOG_LEVEL``, default CRITICAL: the run summary
    says what failed in one line each and where the full traces are; INFO or DEBUG show Dagster's log)."""
    return os.environ.get("HMS_LOG_LEVEL", "CRITICAL").upper()


def make_run_id() -> str:
    import uuid

    return str(uuid.uuid4())


def run_phase(phase: str, settings: Settings, *, quiet: bool = False, full: bool = False,
              accept_deletions: Sequence[str] = ()) -> bool:
    """Materialize one phase through Dagster (in-process executor, persistent instance)."""
    from hms_pipeline.definitions import defs
    from hms_pipeline.instance import cli_run_tags, get_instance
    from hms_pipeline.lib.run_summary import print_run_summary

    if phase not in PHASE_ORDER:
        raise CliError(f"unknown phase {phase!r}; phases: {', '.join(PHASE_ORDER)}")
    url = db.canonical_url(settings)
    if not quiet:
        print(f"database: {_where(settings, url)}")
    instance = get_instance(settings)
    job = defs.resolve_job_def(phase_job_name(phase))
    started = time.monotonic()
    from contextlib import nullcontext

    from hms_pipeline.lib import progress

    run_id = make_run_id()
    watch = (progress.Progress(instance, run_id, len(job.graph.node_dict)) if progress.wanted()
             else nullcontext())
    with watch:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=_run_config(job, full, accept_deletions),
            run_id=run_id,
            tags=cli_run_tags(),  # listed on the job's page and the timeline like a UI run
        )
    from hms_pipeline.paths import run_dir

    print_run_summary(instance, result, time.monotonic() - started, out=sys.stdout,
                      trace_dir=run_dir(settings.reports_dir, result.run_id))
    if result.success and phase == "backfill":
        from hms_pipeline.engine import probe

        with db.connect(url) as conn:
            probe.mark_succeeded(conn, result.run_id)
    _write_report(instance, result.run_id, defs)
    return result.success


def _write_report(instance, run_id: str, defs) -> None:
    """The validation report of a CLI run (the sensors do it for runs launched from the UI)."""
    from hms_pipeline.quality.sensors import phases_from_defs, write_report_for_run
    from hms_pipeline.resources import HmsDatabaseResource

    path = write_report_for_run(instance, run_id, HmsDatabaseResource(), phases_from_defs(defs))
    if path:
        print(f"validation report: {path}")


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.if_changed and args.phase == "backfill" and not args.full:
        from hms_pipeline.engine import probe

        same = probe.unchanged(settings)
        if same:
            print(f"backfill: nothing changed since run {same[0]} succeeded ({same[1]}): the legacy and "
                  "canonical tables, the transforms, suites and settings are as that run found them; "
                  "not run (drop --if-changed to run anyway)")
            return 0
    ok = run_phase(args.phase, settings, full=args.full, accept_deletions=args.accept_deletions)
    return 0 if ok else 1


# --- legacy ---------------------------------------------------------------------------------------


def _parse_scale(value: str) -> str | int:
    if value in ("tiny", "demo", "large"):
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("scale is tiny, demo, large or a number of patients") from None
    if n < 1:
        raise argparse.ArgumentTypeError("scale must be at least 1 patient")
    return n


def guard_synthetic_target(url: str, schema: str, force: bool) -> None:
    """The generator drops and re-creates the legacy schema. Refuse unless that schema is empty, or
    holds only relations the generator creates and ``hms_truth`` says the generator filled this very
    schema: anything else may be a real legacy database (or another schema's data)."""
    if force:
        return
    from hms_pipeline.legacy.schema import contract

    with db.connect(url) as conn:
        relations = [r[0] for r in conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = %s and c.relkind in ('r', 'v', 'p', 'm', 'f')""", (schema,)).fetchall()]
        has_truth = conn.execute("select to_regclass('hms_truth.run') is not null").fetchone()[0]
        generated_here = not relations or (has_truth and conn.execute(
            "select exists (select 1 from hms_truth.run where key = 'schema' and value = %s)", (schema,)).fetchone()[0])
    foreign = sorted(set(relations) - set(contract().names))
    if relations and (foreign or not generated_here):
        why = (f"{len(foreign)} relation(s) the generator does not create (e.g. {', '.join(foreign[:3])})" if foreign
               else f"{len(relations)} relations the generator did not create there (hms_truth does not name this schema)")
        err = CliError(
            f"schema {schema!r} of {db.redact_url(url)} holds {why}; generating would drop them. "
            "Use an empty schema or database (or pass --force)."
        )
        err.exit_code = 2
        raise err


def cmd_legacy(args: argparse.Namespace) -> int:
    settings = _settings()
    url = db.legacy_url(settings)
    if args.legacy_command == "generate":
        from hms_pipeline.legacy.generator import generate

        guard_synthetic_target(url, settings.legacy_schema, args.force)
        print(f"legacy database: {_where(settings, url)}, schema {settings.legacy_schema}")
        report = generate(
            url,
            schema=settings.legacy_schema,
            scale=args.scale,
            seed=args.seed,
            profile=args.profile,
            as_of=args.as_of,
            progress=sys.stderr.isatty(),
        )
        print(report)
    elif args.legacy_command == "profile":
        from hms_pipeline.legacy.profiler import LegacyProfileError, profile_legacy, summary_markdown

        with db.connect(url) as conn:
            try:
                profile = profile_legacy(conn, settings.legacy_schema)
            except LegacyProfileError as exc:
                raise CliError(str(exc)) from exc
        print(summary_markdown(profile))
    return 0


# --- demo -----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    url = db.canonical_url(settings)
    print(f"demo database: {_where(settings, url)}")
    if not run_phase("schema", settings, quiet=True):
        return 1
    try:
        from hms_pipeline.legacy.generator import generate
    except ImportError:
        return 0
    guard_synthetic_target(db.legacy_url(settings), settings.legacy_schema, args.force)
    report = generate(
        db.legacy_url(settings), schema=settings.legacy_schema, scale=args.scale, seed=args.seed,
        profile=args.profile, progress=sys.stderr.isatty(),
    )
    print(report)
    for phase in [p for p in PHASE_ORDER if p != "schema"]:
        if not run_phase(phase, settings, quiet=True):
            return 1
    print("\nOpen the Dagster UI on this database with: hms-pipeline dev")
    return 0


# --- cutover --------------------------------------------------------------------------------------


def cmd_cutover(args: argparse.Namespace) -> int:
    """Phase 3 (compat / rollback), where the migration stands (status), phase 4 (env)."""
    from hms_pipeline.compat import switch
    from hms_pipeline.compat.views import CompatError
    from hms_pipeline.lib import cutover
    from hms_pipeline.resources import HmsDatabaseResource

    settings = _settings()
    hms_db = HmsDatabaseResource()
    try:
        if args.cutover_command == "compat":
            from hms_pipeline.definitions import defs
            from hms_pipeline.instance import get_instance

            result = cutover.compat_on(hms_db, get_instance(settings), defs.resolve_asset_graph(),
                                       lambda: run_phase("backfill", settings, quiet=True),
                                       archive_schema=args.archive_schema)
            print("\n".join(cutover.describe(result)))
        elif args.cutover_command == "rollback":
            print("\n".join(cutover.describe(cutover.compat_off(hms_db))))
        elif args.cutover_command == "status":
            with hms_db.connect() as conn:
                s = switch.state(conn)
                if s is not None and s["action"] == "teardown":
                    print(f"phase 6 done at {s['at']:%Y-%m-%d %H:%M}: the compatibility views and the archived legacy "
                          "tables were dropped after a verified backup; the canonical tables are the only store")
                elif s is None or s["action"] == "rollback":
                    print("phase 2 (backfill): the legacy tables are the application's store; "
                          "the backfill_deltas schedule runs"
                          + (f" (rolled back at {s['at']:%Y-%m-%d %H:%M})" if s else ""))
                else:
                    print(f"phase 3 (compat) since {s['at']:%Y-%m-%d %H:%M}: {len(s['views'])} compatibility views in "
                          f"{s['legacy_schema']}, legacy tables in {s['archive_schema']}; the backfill_deltas "
                          f"schedule skips; writes blocked {float(s['lock_ms']):.0f} ms at the switch")
                    vis = switch.visibility(conn, s["legacy_schema"], s["archive_schema"], s["views"])
                    for table, v in sorted(vis.items()):
                        print(f"  {table}: {v['rows']} rows ({v['from_canonical']} from canonical, "
                              f"{v['from_archive']} from the archive, {v['archived_not_shown']} not shown)")
                    writes = conn.execute("select outcome, count(*) from compat.writes where at >= %s "
                                          "group by 1 order by 1", (s["at"],)).fetchall()
                    print("  writes through the views: " + (", ".join(f"{o} {n}" for o, n in writes) or "none"))
        elif args.cutover_command in ("teardown", "checklist"):
            from hms_pipeline import cli_phase56

            return cli_phase56.cmd_cutover(args, settings)
        elif args.cutover_command == "env":
            lines = cutover.env_lines(settings)
            with hms_db.connect() as conn:
                role = args.role or conn.execute("select current_user").fetchone()[0]
                problems = cutover.check_env(conn, settings, role)
            Path(args.output).write_text("# written by hms-pipeline cutover env (phase 4)\n" + "\n".join(lines) + "\n")
            print(f"{args.output}: {len(lines)} TABLE_* names")
            if problems:
                print("\n".join(f"  problem: {p}" for p in problems))
                return 1
            print(f"  every name resolves, for role {role}, to a relation with the blueprint's columns")
    except CompatError as exc:
        raise CliError(str(exc)) from exc
    return 0


def cmd_security(args: argparse.Namespace) -> int:
    """Phase 5: RLS per role and audit (hms_pipeline/cli_phase56.py)."""
    from hms_pipeline import cli_phase56

    return cli_phase56.cmd_security(args, _settings())


# --- dev ------------------------------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from hms_pipeline.instance import prepare_dagster_home

    settings = _settings()
    url = db.canonical_url(settings)
    home = prepare_dagster_home(settings)
    print(f"database: {_where(settings, url)}\nDAGSTER_HOME={home}")
    from hms_pipeline.cli_dev import run_dev

    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
           "-p", str(args.port), "-h", args.host]
    env = {**os.environ, "HMS_REPORTS_URL": settings.reports_url}  # the runs' report links
    return run_dev(cmd, env=env, cwd=PROJECT_ROOT, reports_dir=settings.reports_dir,
                   reports_url=settings.reports_url)


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hms-pipeline", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    p_db = sub.add_parser("db", help="the canonical database")
    p_db.add_argument("db_command", choices=["url", "stop", "status"])
    p_db.set_defaults(func=cmd_db)

    p_run = sub.add_parser("run", help="materialize a phase through Dagster (in-process)")
    p_run.add_argument("--phase", required=True, choices=list(PHASE_ORDER))
    p_run.add_argument("--full", action="store_true",
                       help="backfill: re-read every legacy row instead of only the changes")
    p_run.add_argument("--accept-deletions", action="append", default=[], metavar="TABLE",
                       help="backfill: legacy TABLE really shrank (or was emptied or removed): let its rows be "
                       "soft-deleted (repeat for several tables)")
    p_run.add_argument("--if-changed", action="store_true", dest="if_changed",
                       help="backfill: first check (in well under a second, from the catalog and the "
                       "statistics counters) whether anything changed since the last successful backfill; "
                       "if not, say so and do not start a run (what the delta schedule does)")
    p_run.set_defaults(func=cmd_run)

    p_leg = sub.add_parser("legacy", help="the legacy source: synthetic data and profile")
    leg_sub = p_leg.add_subparsers(dest="legacy_command", required=True)
    p_gen = leg_sub.add_parser("generate", help="(re)create the legacy schema with synthetic dirty data")
    p_gen.add_argument("--scale", type=_parse_scale, default="tiny", help="tiny|demo|large|<patients>")
    p_gen.add_argument("--seed", type=int, default=42)
    p_gen.add_argument("--profile", choices=LEGACY_PROFILES, default="blueprint",
                       help="blueprint or live shape; hostile / hostile-live: that shape without constraints, "
                       "filled with content the generator's clean data never has")
    p_gen.add_argument("--as-of", type=dt.date.fromisoformat, default=None, dest="as_of",
                       help="date the data is laid out against (YYYY-MM-DD; fixed default)")
    p_gen.add_argument("--force", action="store_true",
                       help="drop the legacy schema even if the generator did not create it")
    leg_sub.add_parser("profile", help="print the legacy profile")
    p_leg.set_defaults(func=cmd_legacy)

    p_demo = sub.add_parser("demo", help="embedded Postgres + schema + synthetic legacy data + every phase")
    p_demo.add_argument("--scale", type=_parse_scale, default="demo")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--profile", choices=LEGACY_PROFILES, default="blueprint")
    p_demo.add_argument("--force", action="store_true",
                        help="let the demo drop a legacy schema it did not create")
    p_demo.set_defaults(func=cmd_demo)

    from hms_pipeline.cli_report import add_report_parser

    add_report_parser(sub)

    p_cut = sub.add_parser("cutover", help="phase 3/4: compatibility views on/off, status, the application's .env")
    cut_sub = p_cut.add_subparsers(dest="cutover_command", required=True)
    p_on = cut_sub.add_parser("compat", help="final delta under a short write lock, then the legacy tables move to "
                              "the archive schema and views with their names serve the application")
    p_on.add_argument("--archive-schema", default="legacy_archive")
    cut_sub.add_parser("rollback", help="reverse the switch: the legacy tables come back with every write made meanwhile")
    cut_sub.add_parser("status", help="where the migration stands")
    p_env = cut_sub.add_parser("env", help="write the application's .env with the blueprint's TABLE_* names and check them")
    p_env.add_argument("--output", default="app.env")
    p_env.add_argument("--role", default=None, help="the application's database role (default: the current user)")
    p_td = cut_sub.add_parser("teardown", help="phase 6: after the cool-off, back up the archived legacy tables, verify "
                              "the backup, then drop the compatibility views and the archive")
    p_td.add_argument("--dry-run", action="store_true", help="print the plan and what would refuse it")
    p_td.add_argument("--backup-dir", default=None, help="where the backup goes (default: HMS_HOME/backups)")
    cut_sub.add_parser("checklist", help="the blueprint's cutover checklist, each item with its evidence (exit 1 while "
                       "any is open)")
    p_cut.set_defaults(func=cmd_cutover)

    p_sec = sub.add_parser("security", help="phase 5: roles, RLS policies and audit triggers")
    sec_sub = p_sec.add_subparsers(dest="security_command", required=True)
    p_en = sec_sub.add_parser("enable", help="enable the RLS policies (all canonical tables, or --table)")
    p_en.add_argument("--table", action="append", default=[], metavar="SCHEMA.TABLE")
    sec_sub.add_parser("status", help="which tables have RLS and audit on; the role matrix run live")
    p_sec.set_defaults(func=cmd_security)

    p_dev = sub.add_parser("dev", help="start the Dagster UI (dagster dev) on the product's instance")
    p_dev.add_argument("--port", type=int, default=3000)
    p_dev.add_argument("--host", default="127.0.0.1")
    p_dev.set_defaults(func=cmd_dev)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "as_of", "unset") is None:
        del args.as_of
        from hms_pipeline.legacy.generator import DEFAULT_AS_OF

        args.as_of = DEFAULT_AS_OF
    try:
        return args.func(args)
    except (CliError,) as exc:
        print(f"hms-pipeline: {exc}", file=sys.stderr)
        return exc.exit_code
    except db.DatabaseError as exc:
        print(f"hms-pipeline: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"hms-pipeline: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
