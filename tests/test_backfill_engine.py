"""The backfill engine on generated legacy data: reconciliation, idempotence, incremental deltas,
crash safety, and a legacy database on another server."""

import psycopg
import pytest

from backfill_helpers import backfill_cli, failed_checks, fingerprint, materializations, prepare, run_backfill
from hms_pipeline.engine import transform

CANONICAL_ASSETS_PREFIXES = ("core/", "clinical/", "inpatient/", "pharmacy/", "billing/", "ref/")


def canonical(mats: dict) -> dict:
    return {k: v for k, v in mats.items() if k.startswith(CANONICAL_ASSETS_PREFIXES)}


@pytest.mark.parametrize("profile", ["blueprint", "live"])
def test_full_run_reconciles_and_rerun_writes_nothing(fresh_db, monkeypatch, profile):
    prepare(fresh_db, profile=profile)
    first = run_backfill(monkeypatch, fresh_db)
    assert first.success, failed_checks(first)
    assert not failed_checks(first)
    mats = canonical(materializations(first))
    assert mats["core/patients"]["rows_written"] > 0 and mats["core/persons"]["rows_written"] > 0
    for key, meta in mats.items():  # README "Figures": every legacy row seen is loaded, merged or quarantined
        assert meta["legacy_rows_seen"] == (meta["legacy_rows_loaded"] + meta["legacy_rows_merged"]
                                            + meta["legacy_rows_quarantined"]), key
        assert meta["rows_written"] == meta["rows_new"] + meta["rows_changed"], key
    assert mats["core/patients"]["rows_new"] == mats["core/patients"]["rows_written"]  # a first load only inserts

    with psycopg.connect(fresh_db) as conn:
        stamps_before = conn.execute("select max(updated_at), count(*) from core.persons").fetchone()
    second = run_backfill(monkeypatch, fresh_db)
    assert second.success and not failed_checks(second)
    written = {k: v.get("rows_written") for k, v in canonical(materializations(second)).items() if k != "ref/codes"}
    assert written and all(n == 0 for n in written.values()), written
    assert all(v.get("rows_soft_deleted", 0) == 0 for v in canonical(materializations(second)).values())
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select max(updated_at), count(*) from core.persons").fetchone() == stamps_before


NEW_PATIENT_ID = "00000000-0000-0000-0000-00000000abcd"


def _apply_changes(url):
    """Two changed patients, one new patient, one deleted patient (one nothing references)."""
    from psycopg import sql

    with psycopg.connect(url) as conn:
        conn.execute(
            """update patients set name = name || ' Jr', updated_at = timestamptz '2026-04-02 10:00+00'
               where id in (
                   select id from patients p
                   where p.name !~* '^patient\s'  -- a real name (fabricated ones are not carried)
                     and (select count(*) from patients d  -- not part of a duplicate registration
                          where right(regexp_replace(d.phone, '\D', '', 'g'), 10)
                              = right(regexp_replace(p.phone, '\D', '', 'g'), 10)) = 1
                   order by patient_id limit 2)"""
        )
        conn.execute(
            """insert into patients (id, patient_id, name, phone, gender, created_at, updated_at)
               values (%s, 'AH9999-0001', 'Test Newpatient', '9000000001', 'female',
                       timestamptz '2026-04-02 10:00+00', timestamptz '2026-04-02 10:00+00')""",
            (NEW_PATIENT_ID,),
        )
        refs = conn.execute(
            """select c.conrelid::regclass::text, a.attname from pg_constraint c
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
               where c.contype = 'f' and c.confrelid = 'public.patients'::regclass"""
        ).fetchall()
        refs += [("users", None)]  # patient logins reference the UHID
        conditions = [
            sql.SQL("not exists (select 1 from {} r where r.{} = p.id)").format(sql.Identifier(t), sql.Identifier(c))
            for t, c in refs if c
        ] + [sql.SQL("not exists (select 1 from users u where u.employee_id = p.patient_id)")]
        victim = conn.execute(
            sql.SQL("select p.id from patients p where p.id <> %s and {} order by p.patient_id desc limit 1").format(
                sql.SQL(" and ").join(conditions)),
            (NEW_PATIENT_ID,),
        ).fetchone()
        assert victim, "no unreferenced patient to delete"
        conn.execute("delete from patients where id = %s", victim)


def test_delta_touches_only_changed_rows_and_matches_a_fresh_full_run(fresh_db, make_db, monkeypatch):
    prepare(fresh_db)
    assert run_backfill(monkeypatch, fresh_db).success
    _apply_changes(fresh_db)
    delta = run_backfill(monkeypatch, fresh_db)
    assert delta.success, failed_checks(delta)
    mats = canonical(materializations(delta))
    staged = materializations(delta)["etl/legacy_snapshot"]
    assert staged["rows_changed"] == 3 and staged["rows_deleted"] == 1
    # persons: 2 renamed + 1 new written, 1 soft-deleted; patients: 1 new (+0 for renames: uhid unchanged)
    assert mats["core/persons"]["rows_written"] == 3
    assert mats["core/persons"]["rows_soft_deleted"] == 1
    assert mats["core/patients"]["rows_written"] == 1 and mats["core/patients"]["rows_soft_deleted"] == 1
    untouched = [k for k in ("core/departments", "core/users", "core/staff_schedules") if k in mats]
    assert all(mats[k]["rows_written"] == 0 for k in untouched)

    fresh = make_db("fresh")
    prepare(fresh)
    _apply_changes(fresh)
    assert run_backfill(monkeypatch, fresh).success
    assert fingerprint(fresh_db) == fingerprint(fresh)


def test_a_crash_midway_then_rerun_equals_an_uninterrupted_run(fresh_db, make_db, monkeypatch):
    prepare(fresh_db)
    original = transform._apply_candidates

    def crash_on_patients(conn, spec, *args, **kwargs):
        original(conn, spec, *args, **kwargs)
        if spec.name == "core.patients":  # after its writes, before its commit
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(transform, "_apply_candidates", crash_on_patients)
    crashed = run_backfill(monkeypatch, fresh_db)
    assert not crashed.success
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from core.patients").fetchone() == (0,)
        assert conn.execute("select count(*) from core.persons").fetchone()[0] > 0
    monkeypatch.setattr(transform, "_apply_candidates", original)
    resumed = run_backfill(monkeypatch, fresh_db)
    assert resumed.success, failed_checks(resumed)

    clean = make_db("clean")
    prepare(clean)
    assert run_backfill(monkeypatch, clean).success
    assert fingerprint(fresh_db) == fingerprint(clean)


def test_legacy_on_a_separate_database(fresh_db, make_db, monkeypatch):
    legacy = make_db("legacy")
    prepare(fresh_db, legacy_url=legacy)
    first = run_backfill(monkeypatch, fresh_db, legacy_url=legacy)
    assert first.success, failed_checks(first)
    assert materializations(first)["etl/legacy_snapshot"]["mode"] == "separate-server"
    second = run_backfill(monkeypatch, fresh_db, legacy_url=legacy)
    assert all(v.get("rows_written") == 0 for k, v in canonical(materializations(second)).items() if k != "ref/codes")

    same = make_db("same")
    prepare(same)
    assert run_backfill(monkeypatch, same).success
    assert fingerprint(fresh_db) == fingerprint(same)


@pytest.mark.one_server
def test_a_killed_run_process_then_rerun_equals_an_uninterrupted_run(fresh_db, make_db, pg_server_url, tmp_path,
                                                                     monkeypatch):
    """A real kill: the CLI process dies (SIGKILL) inside core.patients' transaction."""
    prepare(fresh_db)
    with backfill_cli(fresh_db, pg_server_url, tmp_path) as cli:
        killed = cli(HMS_FAULT_KILL_AFTER="core.patients")
        assert killed.returncode == -9, killed.stdout + killed.stderr
        with psycopg.connect(fresh_db) as conn:
            assert conn.execute("select count(*) from core.patients").fetchone() == (0,)
            assert conn.execute("select count(*) from core.persons").fetchone()[0] > 0
        resumed = cli()
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    clean = make_db("clean")
    prepare(clean)
    assert run_backfill(monkeypatch, clean).success
    assert fingerprint(fresh_db) == fingerprint(clean)
