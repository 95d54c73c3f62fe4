"""Phase 6 and the cutover checklist (issue #14), end to end on tiny blueprint data, on whichever
server the suite runs against (PostgreSQL 15 and the embedded 18).

- ``cutover teardown`` refuses before the cool-off (HMS_COOL_OFF_DAYS), without a verified backup and
  while a monitor is red, naming why, and drops nothing; with the cool-off at 0 it backs the archive up
  (pg_dump when the binary fits the server, else COPY), verifies the backup by restoring it, and
  drops the compatibility views, the archived tables and the archive schema. The backup restores into
  a fresh database with the same counts and checksums; a damaged backup fails verification.
- ``cutover checklist`` exits 1 before the steps, naming the open items, and on a fresh end-to-end
  run (backfill -> cutover compat -> security enable -> teardown) reports its items closed, each with
  evidence.

The synthetic data is laid out as of 2026-03-31, so its open encounters are months old by now: the
end-to-end runs set HMS_MONITOR_OPEN_ENCOUNTER_DAYS to ten years (the setting exists for exactly this
judgement), the rest of the monitors at their defaults.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from backfill_helpers import Pipeline as SharedPipeline
from backfill_helpers import prepare
from hms_pipeline.compat import switch
from hms_pipeline.compat import teardown as td
from hms_pipeline.settings import load_settings


class Pipeline(SharedPipeline):
    """The pipeline of tests/backfill_helpers.py, plus ``cutover teardown|checklist``."""

    def phase6(self, command: str, **options) -> tuple[int, str]:
        """``cutover <command>`` with this pipeline's Dagster instance; (exit code, output)."""
        from hms_pipeline.lib import phase6

        lines: list[str] = []
        args = argparse.Namespace(cutover_command=command, dry_run=options.get("dry_run", False),
                                  backup_dir=options.get("backup_dir"))
        code = phase6.run(args, load_settings(), instance=self.instance, asset_graph=self.graph, out=lines.append)
        return code, "\n".join(lines)


def _one(conn, query, params=()):
    return conn.execute(query, params).fetchone()[0]


def legacy_relations(conn) -> list[str]:
    """Legacy tables and compatibility views left anywhere (public and the archive)."""
    return [r[0] for r in conn.execute(
        """select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname in ('public', 'legacy_archive') and c.relkind in ('r', 'p', 'v', 'm')""").fetchall()]


def switched(url, monkeypatch) -> Pipeline:
    prepare(url)
    p = Pipeline(url, monkeypatch)
    assert p.delta(), "the backfill failed"
    p.compat()
    return p


def test_teardown_refuses_then_leaves_a_restorable_backup(fresh_db, make_db, monkeypatch, tmp_path):
    monkeypatch.setenv("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "3650")
    p = switched(fresh_db, monkeypatch)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        before = sorted(legacy_relations(conn))
    assert any(r.startswith("legacy_archive.") for r in before) and any(r.startswith("public.") for r in before)

    # before the cool-off (default 14 days): refused, named, nothing backed up or dropped
    code, out = p.phase6("teardown", backup_dir=str(tmp_path / "b0"))
    assert code == 1 and "cool-off of 14 day(s)" in out and "HMS_COOL_OFF_DAYS" in out
    assert not (tmp_path / "b0").exists()
    code, out = p.phase6("teardown", dry_run=True)
    assert code == 1 and "cool-off" in out and "back up the" in out  # the plan is printed with the refusal

    monkeypatch.setenv("HMS_COOL_OFF_DAYS", "0")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        # without a verified backup: refused by the library, naming it
        with pytest.raises(td.TeardownRefused, match="verified backup"):
            with conn.transaction():
                td.teardown(conn, load_settings(), red=[])
        # while a gate or monitor is red: refused, naming it
        with pytest.raises(td.TeardownRefused, match="red: monitor negative_stock"):
            with conn.transaction():
                td.teardown(conn, load_settings(), red=["monitor negative_stock"])
        # an unverified backup does not count; a damaged one fails verification
        bad = td.backup(conn, fresh_db, "legacy_archive", tmp_path / "bad", method="copy")
        assert td.plan(conn, load_settings()).backup_id is None
        csv = Path(bad["path"]) / "beds.csv"
        csv.write_text("\n".join(csv.read_text().splitlines()[:-1]) + "\n")  # one row lost
        check = td.verify(conn, bad["backup_id"])
        assert not check["ok"] and check["mismatches"][0] == "beds"  # (and the foreign keys to it)
        assert td.plan(conn, load_settings()).backup_id is None
        assert _one(conn, "select to_regnamespace('legacy_backup_check') is null")  # the scratch schema is gone
        assert sorted(legacy_relations(conn)) == before

    code, out = p.phase6("teardown", dry_run=True)
    assert code == 0 and "dry run: nothing was changed" in out
    code, out = p.phase6("teardown", backup_dir=str(tmp_path / "b1"))
    assert code == 0, out
    assert "verified: restored into legacy_backup_check" in out and "torn down" in out

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert legacy_relations(conn) == []  # no legacy table or compatibility view remains
        assert _one(conn, "select to_regnamespace('legacy_archive') is null")
        assert not switch.compat_is_on(conn) and switch.cutover_done(conn)
        with pytest.raises(Exception, match="cutover is done"):
            switch.switch_on(conn, legacy_schema="public")
        row = conn.execute("select backup_id, path, format, verified_at, checksums from compat.backups "
                           "where verified_at is not null order by backup_id desc limit 1").fetchone()
        summary = switch.state(conn)["summary"]
    backup_id, path, fmt, verified_at, checksums = row
    assert summary["backup_id"] == backup_id and verified_at is not None
    assert fmt in ("pg_dump", "copy")
    with psycopg.connect(fresh_db) as conn:
        expected_format = "pg_dump" if td.pg_dump_usable(conn)[0] else "copy"
    assert fmt == expected_format
    assert set(checksums) == {r.split(".", 1)[1] for r in before if r.startswith("legacy_archive.")}

    # the backfill_deltas schedule keeps skipping: the cutover is done
    from hms_pipeline.quality.gates import cutover_skip_reason

    assert "cutover is done" in (cutover_skip_reason() or "")
    code, out = p.phase6("teardown")
    assert code == 0 and "already done" in out

    # the backup restores into a fresh database, with the same counts and checksums
    other = make_db("p56td_restore")
    with psycopg.connect(other, autocommit=True) as conn:
        with conn.transaction():
            tables = td.restore(conn, path, "restored_legacy")
        got = {t: dict(zip(("rows", "md5"), td.table_checksum(conn, "restored_legacy", t))) for t in tables}
    assert got == checksums
    assert sum(v["rows"] for v in got.values()) > 0
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    assert manifest["format"] == fmt and (Path(path) / "ddl.sql").is_file()


def test_checklist_open_before_the_steps_and_closed_after_them(fresh_db, monkeypatch, tmp_path):
    monkeypatch.setenv("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "3650")
    prepare(fresh_db)
    p = Pipeline(fresh_db, monkeypatch)

    code, out = p.phase6("checklist")
    assert code == 1
    assert "[ ] backfills completed and validated" in out and "no backfill run recorded" in out
    assert "[ ] app switched" in out and "[ ] legacy tables archived and backups taken" in out
    assert "open: " in out and "items closed; open: " in out

    assert p.delta()
    p.compat()
    rls = importlib.import_module("hms_pipeline.security.rls") if importlib.util.find_spec(
        "hms_pipeline.security.rls") else None
    if rls is not None:
        with psycopg.connect(fresh_db) as conn:
            rls.enable(conn)
            conn.commit()
    monkeypatch.setenv("HMS_COOL_OFF_DAYS", "0")
    code, out = p.phase6("teardown", backup_dir=str(tmp_path / "backups"))
    assert code == 0, out

    code, out = p.phase6("checklist")
    lines = out.splitlines()
    closed = {line[4:] for line in lines if line.startswith("[x] ")}
    opened = {line[4:] for line in lines if line.startswith("[ ] ")}
    for item in ("backfills completed and validated (counts, sums, random spot checks)",
                 "app switched to the new .env table names", "materialized views refreshed",
                 "legacy tables archived and backups taken"):
        assert item in closed, out
    assert any(i.startswith("monitoring set up") for i in closed), out
    # evidence: counts, sums, spot checks, the verified backup, each monitor's figure
    assert "rows loaded" in out and "unexplained 0.00" in out and "0 unexplained" in out
    assert "sampled legacy rows" in out and "counts and checksums equal" in out
    assert "negative_stock (pharmacy/inventory_txns): ok" in out
    audit = importlib.util.find_spec("hms_pipeline.security.audit")
    if rls is None:
        assert "RLS enabled and tested for each role" in opened and "not available" in out
    else:
        assert "RLS enabled and tested for each role" in closed, out
    if audit is None:
        assert "audit triggers firing" in opened and "not available" in out
    else:
        assert "audit triggers firing" in closed, out
    assert code == (0 if not opened else 1)
    assert code == 0, out


def test_monitors_warn_without_blocking_and_catch_each_defect(fresh_db, monkeypatch):
    """The monitors run as WARN checks in a backfill run (a red one blocks nothing), as the
    ``monitors`` job (checks only), and through :func:`run_monitors`; each catches its defect."""
    from hms_pipeline.definitions import defs
    from hms_pipeline.lib.monitors import run_monitors

    prepare(fresh_db)
    p = Pipeline(fresh_db, monkeypatch)  # default thresholds: the 2026-03 encounters are old now
    result = p.job.execute_in_process(instance=p.instance, raise_on_error=False,
                                      run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    assert result.success
    evals = {e.check_name: e for e in result.get_asset_check_evaluations() if e.check_name.startswith("monitor_")}
    assert set(evals) == {"monitor_invoice_drift", "monitor_negative_stock", "monitor_admission_without_bed",
                          "monitor_open_encounters"}
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evals.values())
    assert not evals["monitor_open_encounters"].passed and evals["monitor_invoice_drift"].passed

    run = defs.resolve_job_def("monitors").execute_in_process(instance=p.instance, raise_on_error=False)
    assert run.success and not run.get_asset_materialization_events()
    assert {e.check_name for e in run.get_asset_check_evaluations()} == set(evals) | {"monitor_quarantine_growth"}

    settings = load_settings()
    with psycopg.connect(fresh_db) as conn:
        clean = {r["name"]: r for r in run_monitors(conn, settings, record=False)}
        assert clean["negative_stock"]["ok"] and clean["admission_without_bed"]["ok"] and clean["invoice_drift"]["ok"]
        assert clean["quarantine_growth"]["ok"] and clean["quarantine_growth"]["detail"]["previous"] is not None
        conn.execute("set local session_replication_role = replica")  # the defects, bypassing the triggers
        conn.execute("update billing.invoices set paid_amount = paid_amount + 1 where invoice_id = "
                     "(select invoice_id from billing.invoices where deleted_at is null and status <> 'VOID' limit 1)")
        conn.execute("update pharmacy.inventory_txns set qty = -100000 where txn_id = "
                     "(select txn_id from pharmacy.inventory_txns where deleted_at is null limit 1)")
        conn.execute("update inpatient.bed_allocations set end_at = now() where admission_id in "
                     "(select admission_id from view.active_admissions where allocation_id is not null)")
        conn.execute("""insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, run_id)
                        select 'probe', g::text, 'probe', 'PROBE', 'test' from generate_series(1, 1000) g""")
        red = {r["name"]: r for r in run_monitors(conn, settings, record=False)}
        conn.rollback()
    assert not red["invoice_drift"]["ok"] and red["invoice_drift"]["figure"] == 1
    assert not red["negative_stock"]["ok"] and red["negative_stock"]["figure"] >= 1
    assert not red["admission_without_bed"]["ok"] and red["admission_without_bed"]["figure"] >= 1
    assert not red["quarantine_growth"]["ok"] and red["quarantine_growth"]["figure"] > 0.05
    monkeypatch.setenv("HMS_MONITOR_INVOICE_DRIFT", "1.00")
    with psycopg.connect(fresh_db) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute("update billing.invoices set paid_amount = paid_amount + 1 where invoice_id = "
                     "(select invoice_id from billing.invoices where deleted_at is null and status <> 'VOID' limit 1)")
        assert run_monitors(conn, load_settings(), record=False, names=["invoice_drift"])[0]["ok"]  # within tolerance
        conn.rollback()


def test_teardown_on_the_live_profile_drops_the_legacy_views_too(fresh_db, monkeypatch, tmp_path):
    """The live database's legacy views (appointments, medicines, ...) read the compatibility views
    after the switch; teardown drops them with the views, in dependency order."""
    monkeypatch.setenv("HMS_MONITOR_OPEN_ENCOUNTER_DAYS", "3650")
    prepare(fresh_db, profile="live")
    p = Pipeline(fresh_db, monkeypatch)
    assert p.delta()
    p.compat()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert switch.state(conn)["legacy_views"], "the live profile has legacy views"
    monkeypatch.setenv("HMS_COOL_OFF_DAYS", "0")
    code, out = p.phase6("teardown", backup_dir=str(tmp_path))
    assert code == 0, out
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert legacy_relations(conn) == []
        assert switch.cutover_done(conn)
