"""The canonical DDL's rules at work on real rows: CHECKs, the generated charge total, the batch
expiry rule and its migration bypass, change-only updated_at, the views and the matview refresh."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.errors import CheckViolation, GeneratedAlways

from hms_pipeline.sqlrun import apply_ddl


@pytest.fixture
def db(fresh_db):
    """An autocommit connection to ``fresh_db`` with the canonical DDL applied."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        apply_ddl(conn)
        yield conn


def one(conn, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def facility(conn, name="Main"):
    query = "insert into core.facilities (name, timezone) values (%s, 'UTC') returning facility_id"
    return one(conn, query, (name,))


def item(conn, code="PCM500"):
    query = "insert into pharmacy.items (code, name) values (%s, 'Paracetamol') returning item_id"
    return one(conn, query, (code,))


def patient_encounter(conn, uhid="UH1"):
    person = one(conn, "insert into core.persons default values returning person_id")
    patient = one(
        conn,
        "insert into core.patients (person_id, uhid) values (%s, %s) returning patient_id",
        (person, uhid),
    )
    encounter = one(
        conn,
        "insert into clinical.encounters (patient_id, type, start_at)"
        " values (%s, 'IPD', now()) returning encounter_id",
        (patient,),
    )
    return patient, encounter


def charge(conn, qty, unit_price):
    fee = one(conn, "insert into billing.fee_schedules (name) values ('Consult') returning fee_id")
    return one(
        conn,
        "insert into billing.charges (fee_id, qty, unit_price, source_table, source_id)"
        " values (%s, %s, %s, 'test', gen_random_uuid()) returning charge_id",
        (fee, qty, unit_price),
    )


# --- CHECKs and the generated total ---------------------------------------------------------


def test_checks_reject_bad_values(db):
    with pytest.raises(CheckViolation):
        db.execute("insert into clinical.encounters (type, start_at) values ('XYZ', now())")
    with pytest.raises(CheckViolation):
        db.execute(
            "insert into pharmacy.inventory_txns (item_id, txn_type, qty) values (%s, 'GRN', 0)", (item(db),)
        )
    invoice = one(db, "insert into billing.invoices (status) values ('ISSUED') returning invoice_id")
    with pytest.raises(CheckViolation):
        db.execute("insert into billing.payments (invoice_id, amount) values (%s, -5)", (invoice,))
    # the vocabularies accept their values, and NULL (the columns are nullable)
    db.execute("insert into clinical.encounters (type, start_at) values ('OPD', now()), (null, now())")


def test_charge_total_is_generated(db):
    charge_id = charge(db, Decimal("2.5"), Decimal("40.10"))
    total = "select total from billing.charges where charge_id = %s"
    assert one(db, total, (charge_id,)) == Decimal("100.25")
    db.execute("update billing.charges set qty = 3 where charge_id = %s", (charge_id,))
    assert one(db, total, (charge_id,)) == Decimal("120.30")
    with pytest.raises(GeneratedAlways):
        db.execute(
            "insert into billing.charges (qty, unit_price, total, source_table, source_id)"
            " values (1, 1, 1, 'test', gen_random_uuid())"
        )


# --- batch expiry rule ----------------------------------------------------------------------

INSERT_BATCH = (
    "insert into pharmacy.batches (batch_id, item_id, batch_no, expiry) values (%s, %s, %s, %s)"
)
BYPASS_AUDIT = (
    "select pk, after from ops.audit_log"
    " where action = 'EXPIRY_CHECK_BYPASSED' and table_name = 'pharmacy.batches'"
)


def test_expired_batch_refused_unless_migration_bypass(db):
    item_id = item(db)
    today = one(db, "select current_date")
    batch_id = uuid.uuid4()

    for expiry in (today, today - dt.timedelta(days=400)):
        refused = r"pharmacy\.batches: batch_no B-OLD .*rule: expiry > current_date"
        with pytest.raises(CheckViolation, match=refused):
            db.execute(INSERT_BATCH, (batch_id, item_id, "B-OLD", expiry))
    db.execute(INSERT_BATCH, (uuid.uuid4(), item_id, "B-NEW", today + dt.timedelta(days=30)))
    assert db.execute(BYPASS_AUDIT).fetchall() == []

    old_expiry = today - dt.timedelta(days=400)
    for _ in range(2):  # a re-run of the backfill records the bypass once
        with db.transaction():
            db.execute("set local hms.migration_bypass = 'on'")
            db.execute(
                INSERT_BATCH + " on conflict (batch_id) do nothing", (batch_id, item_id, "B-OLD", old_expiry)
            )
    assert one(db, "select batch_no from pharmacy.batches where batch_id = %s", (batch_id,)) == "B-OLD"
    assert db.execute(BYPASS_AUDIT).fetchall() == [
        ({"batch_id": str(batch_id)}, {"batch_no": "B-OLD", "expiry": old_expiry.isoformat()})
    ]
    # "set local" ended with its transaction: the rule applies again
    with pytest.raises(CheckViolation):
        db.execute(INSERT_BATCH, (uuid.uuid4(), item_id, "B-OLD2", old_expiry))


# --- principle 6: updated_at moves only on a real change ------------------------------------


def updated_at(conn, table, key_col, key):
    query = sql.SQL("select updated_at from {} where {} = %s").format(table, key_col)
    return one(conn, query, (key,))


@pytest.mark.parametrize(
    "table, key_col, make, column, new_value",
    [
        (("core", "facilities"), "facility_id", facility, "timezone", "Asia/Kolkata"),
        # billing.charges has a generated column, NULL in NEW during BEFORE triggers
        (("billing", "charges"), "charge_id", lambda conn: charge(conn, 1, 10), "qty", 2),
    ],
)
def test_updated_at_moves_only_on_change(db, table, key_col, make, column, new_value):
    table, key_col, column = sql.Identifier(*table), sql.Identifier(key_col), sql.Identifier(column)
    key = make(db)
    created = updated_at(db, table, key_col, key)
    noops = [
        sql.SQL("update {t} set {c} = {c} where {k} = %s"),
        sql.SQL("update {t} set {c} = {c}, updated_at = now() where {k} = %s"),  # the trigger owns it
    ]
    for noop in noops:
        db.execute(noop.format(t=table, c=column, k=key_col), (key,))
        assert updated_at(db, table, key_col, key) == created
    change = sql.SQL("update {} set {} = %s where {} = %s").format(table, column, key_col)
    db.execute(change, (new_value, key))
    assert updated_at(db, table, key_col, key) > created


# --- views ----------------------------------------------------------------------------------


def test_active_admissions_and_billing_summary(db):
    patient, encounter = patient_encounter(db)
    admission = one(
        db,
        "insert into inpatient.admissions (encounter_id, admit_at) values (%s, now()) returning admission_id",
        (encounter,),
    )
    new_bed = "insert into inpatient.beds (label) values (%s) returning bed_id"
    bed_a, bed_b = (one(db, new_bed, (label,)) for label in "AB")
    db.execute(
        "insert into inpatient.bed_allocations (admission_id, bed_id, start_at, end_at) values"
        " (%s, %s, now() - interval '2 days', now() - interval '1 day'),"
        " (%s, %s, now() - interval '1 day', null)",
        (admission, bed_a, admission, bed_b),
    )
    active = "select admission_id, patient_id, bed_label from view.active_admissions"
    assert db.execute(active).fetchall() == [(admission, patient, "B")]
    db.execute("update inpatient.admissions set discharge_at = now() where admission_id = %s", (admission,))
    assert one(db, "select count(*) from view.active_admissions") == 0

    invoice = one(
        db,
        "insert into billing.invoices (patient_id, due_amount, paid_amount) values (%s, 150, 50)"
        " returning invoice_id",
        (patient,),
    )
    db.execute(
        "insert into billing.invoice_lines (invoice_id, amount, deleted_at) values"
        " (%s, 100, null), (%s, 50, null), (%s, 999, now())",
        (invoice, invoice, invoice),
    )
    assert db.execute(
        "select uhid, line_count, lines_total, due_amount, paid_amount from view.billing_summary"
    ).fetchall() == [("UH1", 2, Decimal("150.00"), Decimal("150.00"), Decimal("50.00"))]


def test_stock_on_hand_refreshes_concurrently(db):
    fac, item_id = facility(db), item(db)
    batch = one(
        db,
        "insert into pharmacy.batches (item_id, batch_no, expiry) values (%s, 'B1', current_date + 90)"
        " returning batch_id",
        (item_id,),
    )
    txn = (
        "insert into pharmacy.inventory_txns (facility_id, item_id, batch_id, txn_type, qty)"
        " values (%s, %s, %s, %s, %s)"
    )
    db.execute(txn, (fac, item_id, batch, "GRN", 100))
    db.execute(txn, (fac, item_id, None, "GRN", 10))  # a movement without batch: batch_id NULL
    db.execute("refresh materialized view concurrently view.stock_on_hand")

    db.execute(txn, (fac, item_id, batch, "DISPENSE", -30))
    db.execute(txn, (fac, item_id, None, "ISSUE", -4))
    # a row written soft-deleted does not count (the ledger refuses updates: it cannot be soft-deleted later)
    db.execute(
        "insert into pharmacy.inventory_txns (facility_id, item_id, batch_id, txn_type, qty, deleted_at)"
        " values (%s, %s, %s, 'ADJUST', 7, now())",
        (fac, item_id, None),
    )
    db.execute("refresh materialized view concurrently view.stock_on_hand")

    stock = dict(db.execute("select batch_id, qty_on_hand from view.stock_on_hand").fetchall())
    assert stock == {batch: Decimal("70.000"), None: Decimal("6.000")}


# --- the generic audit trigger (attached to every canonical table by 099_audit.sql) ----------


def test_audit_row_records_changes(db):
    with db.transaction(force_rollback=True):
        fac = facility(db)
        db.execute("update core.facilities set name = name where facility_id = %s", (fac,))  # no-op: no row
        db.execute("update core.facilities set name = 'Annex' where facility_id = %s", (fac,))
        db.execute("delete from core.facilities where facility_id = %s", (fac,))
        logged = db.execute(
            "select action, table_name, pk, before ->> 'name', after ->> 'name'"
            " from ops.audit_log order by audit_id"
        ).fetchall()
    key = {"facility_id": str(fac)}
    assert logged == [
        ("INSERT", "core.facilities", key, None, "Main"),
        ("UPDATE", "core.facilities", key, "Main", "Annex"),
        ("DELETE", "core.facilities", key, "Annex", None),
    ]
