"""``hms-pipeline cutover teardown [--dry-run] [--backup-dir D]`` (phase 6) and ``cutover checklist``
(the blueprint's cutover checklist as code), issue #14.

teardown: reads what is red (the backfill's blocking checks on the Dagster instance, and the
monitors), asks :func:`hms_pipeline.compat.teardown.plan` for the steps and the refusals (cool-off,
compat not on, red gates or monitors), prints them, and, unless ``--dry-run`` or refused, takes a
backup of the archive, verifies it by restoring it into a scratch schema, and tears down (views,
archived tables, archive schema) in one transaction.

checklist: evaluates each blueprint item with its evidence (counts, sums, names; never a value of a
row) and exits 1 while any is open. Items that need the phase-5 modules (``hms_pipeline.security.rls``
and ``.audit``) are open with "not available" until those exist.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from hms_pipeline.compat import spotcheck, switch
from hms_pipeline.compat import teardown as td
from hms_pipeline.lib import monitors

DEFAULT_ROLES = ("hms_doctor", "hms_nurse", "hms_pharmacy", "hms_billing", "hms_admin")


@dataclass
class Item:
    name: str
    closed: bool
    evidence: list[str] = field(default_factory=list)


# --- shared -----------------------------------------------------------------------------------------


def _connect(settings):
    """(canonical URL, a context manager giving an autocommit connection)."""
    from hms_pipeline.resources import HmsDatabaseResource

    res = HmsDatabaseResource()
    return res.canonical_url(), res.connect(autocommit=True)


def gate_failures(instance, asset_graph) -> list[str] | None:
    """The blocking checks of the backfill phase (and before) failing on ``instance``, by name; None
    when no instance was given (unknown)."""
    if instance is None or asset_graph is None:
        return None
    from hms_pipeline.lib.cutover import backfill_failures

    return [str(f) for f in backfill_failures(instance, asset_graph)]


def gate_summary(instance, asset_graph) -> tuple[int, int, list[str]] | None:
    """(blocking checks of the backfill phase evaluated, of which passing, failing names)."""
    if instance is None or asset_graph is None:
        return None
    from hms_pipeline.lib.jobs import PHASES
    from hms_pipeline.phases import PHASE_ORDER
    from hms_pipeline.quality.gates import blocking_check_keys

    keys: set = set()
    for phase in PHASE_ORDER[: PHASE_ORDER.index("backfill") + 1]:
        keys |= set(PHASES[phase].resolve(asset_graph))
    checks = blocking_check_keys(asset_graph, keys)
    summaries = instance.event_log_storage.get_asset_check_summary_records(checks) if checks else {}
    evaluated = passed = 0
    for key in checks:
        rec = summaries.get(key)
        last = rec.last_completed_check_execution_record if rec else None
        ev = last.evaluation if last else None
        if ev is not None:
            evaluated += 1
            passed += bool(ev.passed)
    return evaluated, passed, gate_failures(instance, asset_graph) or []


def red_list(conn: psycopg.Connection, settings, instance, asset_graph) -> tuple[list[str], list[dict]]:
    """What refuses a teardown: failing blocking checks (or the instance unknown), red monitors (this
    run is recorded: the next quarantine-growth figure compares with it), and, while the archived
    legacy rows are still there, a spot check with unexplained differences (it is recorded: after the
    teardown the checklist shows this last one)."""
    red = []
    s = switch.state(conn)
    if s and s["action"] == "compat":
        spot = spotcheck.spot_check(conn, s["archive_schema"], settings.spot_checks)
        if spot["unexplained"]:
            red.append(f"spot check: {spot['unexplained']} unexplained field difference(s) in "
                       + ", ".join(spot["unexplained_columns"][:5]))
    failing = gate_failures(instance, asset_graph)
    if failing is None:
        red.append("the backfill's blocking checks could not be read (no Dagster instance)")
    else:
        red += [f"blocking check {f}" for f in failing]
    results = monitors.run_monitors(conn, settings)
    red += [f"monitor {monitors.describe(r)}" for r in results if not r["ok"]]
    return red, results


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# --- teardown ---------------------------------------------------------------------------------------


def cmd_teardown(args, settings, *, instance=None, asset_graph=None, out: Callable[[str], None] = print) -> int:
    url, connection = _connect(settings)
    with connection as conn:
        red, _ = red_list(conn, settings, instance, asset_graph)
        p = td.plan(conn, settings, red=red)
        if p.state and p.state["action"] == "teardown":
            out(f"cutover teardown: already done at {p.state['at']:%Y-%m-%d %H:%M} "
                f"(backup #{(p.state['summary'] or {}).get('backup_id')})")
            return 0
        out("cutover teardown plan:" if p.steps else "cutover teardown: nothing to do")
        for i, step in enumerate(p.steps, 1):
            out(f"  {i}. {step}")
        if p.refusals:
            out("refused:")
            for r in p.refusals:
                out(f"  - {r}")
            return 1
        if args.dry_run:
            out("dry run: nothing was changed" + (f" ({p.backup_note}: the run takes one)" if p.backup_note else ""))
            return 0
        if p.backup_id is None:
            directory = Path(args.backup_dir) if args.backup_dir else settings.home / "backups"
            try:
                manifest = td.backup(conn, url, p.state["archive_schema"], directory)
            except td.TeardownRefused as exc:
                out(f"refused: {exc}")
                return 1
            out(f"backup #{manifest['backup_id']}: {manifest['format']} ({manifest['tool']}) in {manifest['path']}, "
                f"{len(manifest['checksums'])} tables, {sum(v['rows'] for v in manifest['checksums'].values())} rows")
            check = td.verify(conn, manifest["backup_id"])
            if not check["ok"]:
                out(f"refused: backup #{manifest['backup_id']} did not restore to the same contents: "
                    f"{len(check['mismatches'])} table(s) differ (e.g. {check['mismatches'][0]})")
                return 1
            out(f"verified: restored into {check['restored_into']} ({check['tables']} tables, {check['rows']} rows): "
                "every row count and checksum equals the archive's")
        try:
            with conn.transaction():
                summary = td.teardown(conn, settings, red=red)
        except td.TeardownRefused as exc:
            out(str(exc))
            return 1
        out(f"torn down: {len(summary['dropped_views']) + len(summary['dropped_legacy_views'])} view(s) and "
            f"{len(summary['dropped_tables'])} archived table(s) dropped (backup #{summary['backup_id']}); "
            "the canonical tables are the application's only store")
    return 0


# --- checklist --------------------------------------------------------------------------------------


def item_backfills(conn, settings, instance, asset_graph) -> Item:
    it = Item("backfills completed and validated (counts, sums, random spot checks)", True)
    summary = gate_summary(instance, asset_graph)
    if summary is None:
        it.closed = False
        it.evidence.append("open: the backfill's checks could not be read (no Dagster instance)")
    else:
        evaluated, passed, failing = summary
        it.evidence.append(f"blocking checks (reconciliation: rows seen = loaded + merged + quarantined; ERROR "
                           f"expectations): {evaluated} evaluated, {passed} passing, {len(failing)} failing")
        if not evaluated:
            it.closed = False
            it.evidence.append("open: no backfill run recorded on this Dagster instance")
        if failing:
            it.closed = False
            it.evidence.append("open: failing: " + "; ".join(failing[:5]))
    counts = dict(conn.execute("select disposition, count(*) from ops.legacy_id_map group by 1").fetchall())
    quarantined = conn.execute("select count(*) from ops.quarantine where resolved_at is null").fetchone()[0]
    it.evidence.append(f"counts: {counts.get('LOADED', 0)} legacy rows loaded, {counts.get('MERGED', 0)} merged, "
                       f"{quarantined} in quarantine (unresolved)")
    if not counts:
        it.closed = False
        it.evidence.append("open: nothing loaded yet (run --phase backfill)")
    it.closed &= _sums(conn, settings, it)
    it.closed &= _spot(conn, settings, it)
    return it


def _sums(conn, settings, it: Item) -> bool:
    if conn.execute("select to_regclass('stg.billing') is null").fetchone()[0]:
        it.evidence.append("sums: no staged billing rows (no backfill yet)")
        return False
    from hms_pipeline.quality.finance import finance_figures

    fin = finance_figures(conn, facility_timezone=settings.facility_timezone, key=b"checklist")
    if fin.get("error"):
        it.evidence.append(f"open: sums not computed ({fin['error'][:120]})")
        return False
    ok = True
    for name in ("billed", "received"):
        t = fin[name]["total"]
        it.evidence.append(f"sums: {name} legacy {t['legacy_amount']:.2f} vs migrated {t['canonical_amount']:.2f}, "
                           f"difference {t['difference']:.2f} explained by quarantine reasons "
                           f"{t['explained_amount']:.2f}, unexplained {t['unexplained']:.2f}")
        if Decimal(t["unexplained"]) != 0:
            ok = False
            it.evidence.append(f"open: {name} has an unexplained difference")
    return ok


def _spot(conn, settings, it: Item) -> bool:
    s = switch.state(conn)
    source = None
    if s and s["action"] == "compat":
        source = s["archive_schema"]
    elif s is None or s["action"] == "rollback":
        source = settings.legacy_schema
    result = None
    if source and not settings.legacy_is_separate:
        if conn.execute("select exists (select 1 from pg_namespace where nspname = %s)", (source,)).fetchone()[0]:
            result = spotcheck.spot_check(conn, source, settings.spot_checks)
            when = "now"
    if result is None:
        result = spotcheck.latest(conn)
        when = f"at {result['at']:%Y-%m-%d %H:%M} (recorded)" if result else ""
    if not result or not result["rows_compared"]:
        it.evidence.append("open: no spot check (no legacy rows with provenance to sample)")
        return False
    it.evidence.append(
        f"spot checks {when}: {result['rows_compared']} sampled legacy rows of {result['tables']} tables, "
        f"{result['fields_compared']} fields compared with their canonical rows: {result['explained']} differ by a "
        f"documented normalisation, {result['unexplained']} unexplained (seed {result['seed']})")
    if result["unexplained"]:
        it.evidence.append("open: unexplained differences in " + ", ".join(result["unexplained_columns"][:10]))
        return False
    return True


def item_app(conn, settings) -> Item:
    from hms_pipeline.lib.cutover import check_env

    it = Item("app switched to the new .env table names", True)
    s = switch.state(conn)
    if s is None or s["action"] == "rollback":
        it.closed = False
        it.evidence.append("open: the legacy tables are still the application's store (cutover compat first)")
    else:
        it.evidence.append(f"cutover {s['action']} at {s['at']:%Y-%m-%d %H:%M}")
    roles = _app_roles(conn)
    by_role = {role: check_env(conn, settings, role) for role in roles}
    # a name must resolve with the blueprint's columns for every role; it must be readable by at least
    # one of the roles the application switches to (a pharmacist need not read the audit log)
    unreadable = [set(p.split(":", 1)[0] for p in probs if p.endswith("may not read it")) for probs in by_role.values()]
    nobody = set.intersection(*unreadable) if unreadable else set()
    # the phase-5 matrix (security.rls.ACCESS) may deliberately give the application no access to a
    # table (the audit log is written through a SECURITY DEFINER trigger only): not a problem then
    rls = _module("hms_pipeline.security.rls")
    access = getattr(rls, "ACCESS", None) if rls is not None else None
    by_design = sorted(n for n in nobody if access is not None and str(settings.table(n.split("=")[0])) not in access)
    nobody -= set(by_design)
    problems = sorted({p for probs in by_role.values() for p in probs if not p.endswith("may not read it")}
                      | {f"{n}: none of the roles {', '.join(roles)} may read it" for n in nobody})
    if by_design:
        it.evidence.append(f"not readable by the application's roles by design (outside the RLS matrix): "
                           + ", ".join(by_design))
    if problems:
        it.closed = False
        it.evidence.append(f"open: {len(problems)} TABLE_* problem(s): " + "; ".join(problems[:5]))
    else:
        it.evidence.append(f"every TABLE_* name resolves to a relation with the blueprint's columns, readable by the "
                           f"application's role(s) {', '.join(roles)}")
    return it


def _app_roles(conn) -> list[str]:
    """The roles the application reads as: those ``hms_app`` (NOINHERIT, phase 5) switches to, or
    ``hms_app`` itself when it inherits, else the current user (no phase-5 roles)."""
    row = conn.execute("select rolinherit from pg_roles where rolname = 'hms_app'").fetchone()
    if row is None:
        return [conn.execute("select current_user").fetchone()[0]]
    if row[0]:
        return ["hms_app"]
    members = [r[0] for r in conn.execute(
        """select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid
           where m.member = (select oid from pg_roles where rolname = 'hms_app') order by 1""").fetchall()]
    return members or ["hms_app"]


def _get(obj, name: str, default=None):
    """A field of a result row: a dict key or an attribute (the security modules return dataclasses)."""
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _cells_summary(cells) -> tuple[int, list]:
    cells = list(cells or [])
    wrong = [c for c in cells if _get(c, "expected") != _get(c, "actual")]
    return len(cells), wrong


def item_rls(conn) -> Item:
    it = Item("RLS enabled and tested for each role", False)
    rls = _module("hms_pipeline.security.rls")
    if rls is None or not hasattr(rls, "verify_matrix"):
        it.evidence.append("open: not available (hms_pipeline.security.rls.verify_matrix)")
        return it
    try:
        if hasattr(rls, "rls_status"):
            status = rls.rls_status(conn)
            it.evidence.append(f"status: {_short(status)}")
        n, wrong = _cells_summary(rls.verify_matrix(conn))  # it rolls its own transaction back
    except Exception as exc:  # noqa: BLE001  (their failure is this item's evidence)
        it.evidence.append(f"open: the matrix could not run ({type(exc).__name__})")
        return it
    it.closed = n > 0 and not wrong
    it.evidence.append(f"matrix run live: {n} cells (role x table x verb x scope), {n - len(wrong)} as expected, "
                       f"{len(wrong)} not")
    for c in wrong[:5]:
        it.evidence.append("  differs: " + ", ".join(f"{k}={_get(c, k)}" for k in (
            "role", "table", "verb", "scope", "identity", "expected", "actual") if _get(c, k) is not None))
    if n == 0:
        it.evidence.append("open: the matrix has no cell")
    return it


def _short(value) -> str:
    if isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
        return f"RLS on {sum(value.values())} of {len(value)} tables"
    if isinstance(value, dict):
        on = sum(1 for v in value.values() if (v.get("rls") or v.get("enabled") or v.get("rls_enabled"))
                 ) if all(isinstance(v, dict) for v in value.values()) else None
        return f"{len(value)} entries" + (f", {on} with RLS on" if on is not None else "")
    if isinstance(value, (list, tuple)):
        return f"{len(value)} entries"
    return str(value)[:200]


def _probe_ok(result) -> tuple[bool, str]:
    if isinstance(result, bool):
        return result, str(result)
    if isinstance(result, dict):
        vals = {k: (v.get("ok", v.get("logged")) if isinstance(v, dict) else v) for k, v in result.items()}
        if "ok" in result and not isinstance(result["ok"], dict):
            return bool(result["ok"]), _short(result)
        bad = [k for k, v in vals.items() if not v]
        return (bool(vals) and not bad), f"{len(vals) - len(bad)} of {len(vals)} probes logged" + (
            f" (not: {', '.join(map(str, bad[:5]))})" if bad else "")
    if isinstance(result, (list, tuple)):
        oks = [bool(_get(r, "ok", _get(r, "logged"))) if not isinstance(r, bool) else r for r in result]
        bad = sorted({f"{_get(r, 'role')} ({_get(r, 'detail') or 'not logged'})" for r, ok in zip(result, oks) if not ok})
        return (bool(oks) and all(oks)), (f"{sum(oks)} of {len(oks)} probe writes logged with actor and masked PHI"
                                          + (f"; not: {', '.join(bad[:5])}" if bad else ""))
    return bool(result), str(result)[:200]


def item_audit(conn) -> Item:
    it = Item("audit triggers firing", False)
    audit = _module("hms_pipeline.security.audit")
    if audit is None or not hasattr(audit, "tables_without_audit") or not hasattr(audit, "audit_probe"):
        it.evidence.append("open: not available (hms_pipeline.security.audit.tables_without_audit / audit_probe)")
        return it
    rls = _module("hms_pipeline.security.rls")
    roles = list(getattr(rls, "ROLES", None) or getattr(audit, "ROLES", None) or DEFAULT_ROLES)
    try:
        missing = list(audit.tables_without_audit(conn))
        ok, what = _probe_ok(audit.audit_probe(conn, roles))  # rolled back by the probe
    except Exception as exc:  # noqa: BLE001
        it.evidence.append(f"open: the audit probe could not run ({type(exc).__name__})")
        return it
    it.evidence.append(f"canonical tables without an audit trigger: {len(missing)}"
                       + (f" (e.g. {', '.join(map(str, missing[:5]))})" if missing else ""))
    it.evidence.append(f"probe writes as {len(roles)} role(s): {what}")
    it.closed = not missing and ok
    return it


def item_matviews(conn) -> Item:
    it = Item("materialized views refreshed", True)
    rows = conn.execute(
        """select c.relname, c.relkind, pg_get_viewdef(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'view' and c.relkind in ('v', 'm') order by 1""").fetchall()
    plain = [name for name, kind, _ in rows if kind == "v"]
    for name, kind, definition in rows:
        if kind != "m":
            continue
        mv = sql.Identifier("view", name)
        body = sql.SQL(definition.strip().rstrip(";"))  # type: ignore[arg-type]  # the catalog's own definition
        stale, missing, n = conn.execute(sql.SQL(
            "select (select count(*) from (table {mv} except all ({body})) a), "
            "(select count(*) from (({body}) except all table {mv}) b), (select count(*) from {mv})").format(
            mv=mv, body=body)).fetchone()
        if stale or missing:
            it.closed = False
            it.evidence.append(f"open: view.{name}: {stale} row(s) no longer current, {missing} missing: "
                               f"refresh materialized view concurrently view.{name}")
        else:
            it.evidence.append(f"view.{name} (materialized): {n} rows, equal to its query now")
    if plain:
        it.evidence.append(f"{len(plain)} plain view(s), always current: " + ", ".join(f"view.{p}" for p in plain))
    return it


def item_archive(conn) -> Item:
    it = Item("legacy tables archived and backups taken", False)
    s = switch.state(conn)
    if s is None or s["action"] == "rollback":
        it.evidence.append("open: the legacy tables are not archived (cutover compat)")
        return it
    if s["action"] == "teardown":
        bid = (s["summary"] or {}).get("backup_id")
        row = conn.execute("select path, format, verified_at, verification from compat.backups where backup_id = %s",
                           (bid,)).fetchone()
        if row is None or row[2] is None:
            it.evidence.append(f"open: torn down at {s['at']:%Y-%m-%d %H:%M} but backup #{bid} is not verified")
            return it
        v = row[3] or {}
        it.closed = True
        it.evidence.append(f"archived at cutover compat, torn down at {s['at']:%Y-%m-%d %H:%M} after the cool-off")
        it.evidence.append(f"backup #{bid} ({row[1]}, {row[0]}): verified at {row[2]:%Y-%m-%d %H:%M}, restored into "
                           f"{v.get('restored_into')} with {v.get('tables')} tables / {v.get('rows')} rows, counts and "
                           "checksums equal")
        return it
    archive = s["archive_schema"]
    it.evidence.append(f"{len(td.archive_tables(conn, archive))} legacy tables archived in {archive} since "
                       f"{s['at']:%Y-%m-%d %H:%M}")
    bid, note = td.matching_backup(conn, archive)
    if bid is None:
        it.evidence.append(f"open: {note}")
    else:
        it.closed = True
        it.evidence.append(f"verified backup #{bid} matches the archive now")
    return it


def item_monitors(conn, settings) -> Item:
    # evaluated, not recorded: quarantine growth compares with the last recorded run (the monitors
    # schedule, a backfill run's checks, a teardown), which the checklist does not move
    results = monitors.run_monitors(conn, settings, record=False)
    it = Item("monitoring set up (invoice deltas, stock on hand, admission without bed, open encounters, "
              "quarantine growth)", all(r["ok"] for r in results))
    for r in results:
        it.evidence.append(("" if r["ok"] else "open: ") + monitors.describe(r))
    it.evidence.append("in Dagster: WARN asset checks monitor_* and the monitors schedule (stopped by default)")
    return it


def checklist(settings, *, instance=None, asset_graph=None) -> list[Item]:
    _url, connection = _connect(settings)
    with connection as conn:
        return [
            item_backfills(conn, settings, instance, asset_graph),
            item_app(conn, settings),
            item_rls(conn),
            item_audit(conn),
            item_matviews(conn),
            item_archive(conn),
            item_monitors(conn, settings),
        ]


def cmd_checklist(args, settings, *, instance=None, asset_graph=None, out: Callable[[str], None] = print) -> int:
    items = checklist(settings, instance=instance, asset_graph=asset_graph)
    for it in items:
        out(f"[{'x' if it.closed else ' '}] {it.name}")
        for e in it.evidence:
            out(f"      {e}")
    open_items = [it.name for it in items if not it.closed]
    out(f"{len(items) - len(open_items)} of {len(items)} items closed"
        + (f"; open: {'; '.join(open_items)}" if open_items else ""))
    return 1 if open_items else 0


def run(args, settings, *, instance=None, asset_graph=None, out: Callable[[str], None] = print) -> int:
    """``cutover teardown`` / ``cutover checklist`` (``args.cutover_command``); exit code 0 or 1.
    ``instance`` and ``asset_graph`` give the backfill's blocking checks (the CLI passes the product's)."""
    if args.cutover_command == "teardown":
        return cmd_teardown(args, settings, instance=instance, asset_graph=asset_graph, out=out)
    if args.cutover_command == "checklist":
        return cmd_checklist(args, settings, instance=instance, asset_graph=asset_graph, out=out)
    out(f"unknown cutover command {args.cutover_command!r}")
    return 1
