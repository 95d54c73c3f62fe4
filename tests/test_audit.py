"""Phase 5 audit (issue #14, sql/ddl/099_audit.sql, hms_pipeline/security/audit.py): every canonical
table has its trigger; an application's write is logged with its actor and the PHI hashed; the log
is append-only; the backfill's own writes are logged once per table per run, never per row."""

from __future__ import annotations

import json
import uuid

import psycopg
from psycopg import sql
import pytest
from psycopg.errors import InsufficientPrivilege

from backfill_helpers import failed_checks, prepare, run_backfill
from hms_pipeline.engine.audit_bulk import BULK_ACTION
from hms_pipeline.security import audit
from hms_pipeline.sqlrun import apply_ddl

STAFF = uuid.UUID("5eaf0000-0000-4000-8000-000000000001")
# PHI written by the "application": none of it may appear in the log as is
NAME, SURNAME, PHONE, EMAIL, DOB, STREET = "Savitri", "Kulkarni", "+919812345678", "savitri.k@example.org", \
    "1961-04-13", "12 Tilak Road"
ROW_ACTIONS = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def db(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        apply_ddl(conn)
        yield conn


def one(conn, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def log(conn, since=0):
    return conn.execute(
        "select actor_user_id, action, table_name, pk, before, after from ops.audit_log where audit_id > %s"
        " order by audit_id", (since,)).fetchall()


def test_every_canonical_table_has_its_audit_trigger(db):
    tables = audit.canonical_tables(db)
    assert {"core.persons", "clinical.vitals", "billing.invoices", "ref.codes", "ops.attachments"} <= set(tables)
    assert not set(audit.NOT_AUDITED) & set(tables)
    assert len(tables) >= 36
    assert audit.tables_without_audit(db) == []
    phi = audit.phi_columns(db)
    assert set(phi) == set(tables)
    assert set(phi["core.persons"]) == {"first_name", "last_name", "dob", "phone", "email", "address"}
    assert "legacy_attributes" in phi["billing.invoices"] and phi["clinical.vitals"] == []

    # a missing (or disabled) trigger is reported; the schema phase puts it back, and changes nothing else
    db.execute("drop trigger trg_audit_row on clinical.vitals")
    db.execute("alter table billing.payments disable trigger trg_audit_row")
    assert audit.tables_without_audit(db) == ["billing.payments", "clinical.vitals"]
    db.execute("alter table billing.payments enable trigger trg_audit_row")
    apply_ddl(db)
    assert audit.tables_without_audit(db) == []


def test_application_writes_are_logged_with_actor_and_masked_phi(db):
    db.execute("select set_config('hms.staff_id', %s, false)", (str(STAFF),))
    person = one(db, """insert into core.persons (first_name, last_name, dob, sex, phone, email, address)
                        values (%s, %s, %s, 'F', %s, %s, jsonb_build_object('line1', %s::text)) returning person_id""",
                 (NAME, SURNAME, DOB, PHONE, EMAIL, STREET))
    patient = one(db, "insert into core.patients (person_id, uhid) values (%s, 'UH-AUD-1') returning patient_id", (person,))
    encounter = one(db, "insert into clinical.encounters (patient_id, type, start_at) values (%s, 'OPD', now())"
                        " returning encounter_id", (patient,))
    mark = one(db, "select max(audit_id) from ops.audit_log")

    db.execute("update core.persons set phone = %s where person_id = %s", (PHONE[:-1] + "9", person))
    db.execute("update core.persons set phone = phone where person_id = %s", (person,))  # no change: no row
    vital = one(db, "insert into clinical.vitals (encounter_id, taken_at, kind, value, unit)"
                    " values (%s, now(), 'pulse', 72, 'bpm') returning vital_id", (encounter,))
    db.execute("update clinical.vitals set value = 80 where vital_id = %s", (vital,))
    db.execute("delete from clinical.vitals where vital_id = %s", (vital,))
    invoice = one(db, "insert into billing.invoices (patient_id, encounter_id, status, due_amount, legacy_attributes)"
                      " values (%s, %s, 'DRAFT', 500, jsonb_build_object('patient_name', %s::text)) returning invoice_id",
                  (patient, encounter, NAME))
    db.execute("update billing.invoices set status = 'ISSUED' where invoice_id = %s", (invoice,))
    db.execute("delete from billing.invoices where invoice_id = %s", (invoice,))
    db.execute("delete from clinical.encounters where encounter_id = %s", (encounter,))
    db.execute("delete from core.patients where patient_id = %s", (patient,))
    db.execute("delete from core.persons where person_id = %s", (person,))

    rows = log(db, mark)
    assert [(a, t) for _, a, t, *_ in rows] == [
        ("UPDATE", "core.persons"),
        ("INSERT", "clinical.vitals"), ("UPDATE", "clinical.vitals"), ("DELETE", "clinical.vitals"),
        ("INSERT", "billing.invoices"), ("UPDATE", "billing.invoices"), ("DELETE", "billing.invoices"),
        ("DELETE", "clinical.encounters"), ("DELETE", "core.patients"), ("DELETE", "core.persons"),
    ]
    assert {actor for actor, *_ in rows} == {STAFF}
    assert rows[0][3] == {"person_id": str(person)} and rows[1][3] == {"vital_id": str(vital)}
    everything = json.dumps([r[3:] for r in log(db)])  # every audit row ever written here, inserts included
    for secret in (NAME, SURNAME, PHONE, PHONE[:-1] + "9", EMAIL, DOB, STREET, "UH-AUD-1"):
        assert secret not in everything
    before, after = rows[0][4], rows[0][5]
    assert before["phone"].startswith("sha256:") and after["phone"].startswith("sha256:")
    assert before["phone"] != after["phone"] and before["first_name"] == after["first_name"]  # a change shows
    assert after["sex"] == "F"  # not PHI on its own: as is
    assert rows[2][4]["value"] == 72 and rows[2][5]["value"] == 80  # vitals: clinical values, no identifier
    assert rows[5][4]["status"] == "DRAFT" and rows[5][5]["status"] == "ISSUED"
    assert rows[4][5]["legacy_attributes"].startswith("sha256:")
    assert rows[9][4]["person_id"] == str(person) and rows[9][5] is None


def test_actor_from_a_supabase_claim_and_never_an_error(db):
    user = uuid.uuid4()
    with db.transaction(force_rollback=True):
        # the claims win over the session setting (a request cannot name another actor)
        db.execute("select set_config('hms.staff_id', %s, true)", (str(STAFF),))
        db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": str(user), "role": "x"}),))
        db.execute("insert into core.facilities (name, timezone) values ('A', 'UTC')")
        db.execute("select set_config('request.jwt.claims', %s, true)",
                   (json.dumps({"sub": str(user), "staff_id": str(STAFF)}),))
        db.execute("insert into core.facilities (name, timezone) values ('B', 'UTC')")
        db.execute("select set_config('request.jwt.claims', '', true), set_config('hms.staff_id', 'not-a-uuid', true)")
        db.execute("insert into core.facilities (name, timezone) values ('C', 'UTC')")  # a bad id never fails the write
        got = db.execute("select after ->> 'name', actor_user_id from ops.audit_log order by audit_id").fetchall()
    assert got == [("A", user), ("B", STAFF), ("C", None)]


def test_the_bulk_setting_mutes_the_owner_only(db):
    """hms.audit_bulk (the engine's, one transaction at a time) skips row audit for the tables'
    owner only: any other role that sets it is still audited row by row."""
    role = f"p56aud_writer_{uuid.uuid4().hex[:8]}"
    with db.transaction(force_rollback=True):  # the role too is rolled back
        ident = sql.Identifier(role)
        db.execute(sql.SQL("create role {} nologin").format(ident))
        db.execute(sql.SQL("grant usage on schema core to {}").format(ident))
        db.execute(sql.SQL("grant insert on core.facilities to {}").format(ident))
        db.execute("select set_config('hms.audit_bulk', 'run-1', true)")
        db.execute("insert into core.facilities (name, timezone) values ('Owner', 'UTC')")
        db.execute(sql.SQL("set local role {}").format(ident))
        db.execute("insert into core.facilities (name, timezone) values ('Other', 'UTC')")
        db.execute("reset role")
        got = db.execute("select action, after ->> 'name' from ops.audit_log").fetchall()
    assert got == [("INSERT", "Other")]


def test_the_audit_log_is_append_only(db):
    db.execute("insert into core.facilities (name, timezone) values ('Main', 'UTC')")
    assert one(db, "select count(*) from ops.audit_log") == 1
    for stmt in ("update ops.audit_log set action = 'X'", "delete from ops.audit_log",
                 "delete from ops.audit_log where false", "truncate ops.audit_log"):
        with pytest.raises(InsufficientPrivilege, match="ops.audit_log is append-only"):
            db.execute(stmt)
    assert one(db, "select count(*) from ops.audit_log") == 1


def test_probe_as_each_role_leaves_nothing(db):
    before = one(db, "select count(*) from ops.audit_log")
    roles_before = one(db, "select count(*) from pg_roles")
    present = {r for (r,) in db.execute("select rolname from pg_roles where rolname = any(%s)",
                                        (list(audit.ROLES),)).fetchall()}
    results = audit.audit_probe(db, roles=(*audit.ROLES, "hms_no_such_role"), identities=audit.IDENTITIES)
    missing = [r for r in results if r.role == "hms_no_such_role"]
    assert [(r.probed, r.detail) for r in missing] == [(False, "role missing")] * len(audit.IDENTITIES)
    for r in results:
        if r.role in present:
            assert r.ok, r.as_dict()
    assert one(db, "select count(*) from ops.audit_log") == before  # rolled back
    assert one(db, "select count(*) from pg_roles") == roles_before  # nothing created


def test_a_backfill_is_logged_once_per_table_per_run(fresh_db, monkeypatch):
    prepare(fresh_db)
    first = run_backfill(monkeypatch, fresh_db)
    assert first.success, failed_checks(first)
    with psycopg.connect(fresh_db) as conn:
        per_row = one(conn, "select count(*) from ops.audit_log where action = any(%s)", (list(ROW_ACTIONS),))
        bulk = conn.execute("select table_name, pk, after from ops.audit_log where action = %s",
                            (BULK_ACTION,)).fetchall()
        wrote = dict(conn.execute("select canonical_table, written from etl.run_stats where run_id = %s"
                                  " and written + soft_deleted > 0", (first.run_id,)).fetchall())
        total = one(conn, "select count(*) from ops.audit_log")
    assert per_row == 0
    assert sorted(t for t, _, _ in bulk) == sorted(wrote) and len(wrote) > 20
    for table, pk, after in bulk:
        assert pk == {"run_id": first.run_id}
        assert after["run_id"] == first.run_id and after["written"] == wrote[table]
        assert set(after) == {"run_id", "written", "soft_deleted", "quarantined", "merged", "unchanged",
                              "candidates", "actor"}

    second = run_backfill(monkeypatch, fresh_db)  # no legacy change: nothing written, nothing logged
    assert second.success, failed_checks(second)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert one(conn, "select count(*) from ops.audit_log") == total
        # the application's writes after the migration are audited again (the setting was transaction-local)
        conn.execute("update core.persons set last_name = 'Changed' where person_id = (select min(person_id::text)::uuid"
                     " from core.persons)")
        assert one(conn, "select count(*) from ops.audit_log where action = 'UPDATE'") == 1
