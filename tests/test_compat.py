"""Phase 3, the compatibility views (issue #13), end to end on tiny blueprint data, on whichever
server the suite runs against (PostgreSQL 15 and the embedded 18 in CI).

Before the switch the test reads the legacy tables the way the application does (``select *``, by
id, by patient, ILIKE searches, newest first, the embedded joins); ``cutover compat`` runs (gates,
catch-up delta, write lock, final delta, switch); the same reads through the views must return the
same rows, compared per legacy key and column. A difference is allowed only where
``mappings/compat_normalisations.csv`` lists the (table, column) with its rule. Then the
application's kinds of writes go through the views and read back; a concurrent writer keeps writing
through the switch and the rollback, and every one of its writes ends in canonical exactly once.
"""

from __future__ import annotations

import csv
import random
import multiprocessing
import time
import uuid
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from backfill_helpers import Pipeline, prepare
from hms_pipeline.compat import switch
from hms_pipeline.compat.views import compat_tables, legacy_columns
from hms_pipeline.paths import PROJECT_ROOT

NORMALISATIONS = PROJECT_ROOT / "mappings" / "compat_normalisations.csv"


def normalised() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with open(NORMALISATIONS, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["table"], set()).add(row["column"])
    return out


def rows_by_key(conn, query: sql.Composable, params=()) -> dict[str, dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    out: dict[str, dict] = {}
    for row in cur.fetchall():
        rec = dict(zip(names, row))
        key = str(rec["id"])
        assert key not in out, "a legacy key answered twice"
        out[key] = rec
    return out


def differences(table: str, before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Problems beyond the documented normalisations (no values, only table, key hash and column)."""
    allowed = normalised().get(table, set())
    problems = []
    if set(before) != set(after):
        problems.append(f"{table}: keys differ ({len(set(before) - set(after))} missing, "
                        f"{len(set(after) - set(before))} extra)")
    for key in set(before) & set(after):
        for col, value in before[key].items():
            if after[key].get(col) != value and col not in allowed:
                problems.append(f"{table}.{col} differs (key md5 {uuid.uuid5(uuid.NAMESPACE_OID, key).hex[:8]})")
    return sorted(set(problems))


def app_tables(conn) -> list[str]:
    """The legacy relations the application reads (a view body each), tables or, in the live
    database, the legacy views (appointments, medicines, ...) that the switch re-creates over the
    compatibility views."""
    present = {r[0] for r in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind in ('r', 'v')")}
    return [t for t in compat_tables() if t in present]


SELECT_ALL = "select * from {}"
SEARCHED = ("name", "first_name", "last_name", "generic_name", "phone", "email", "bill_number", "customer_name",
            "service_name", "patient_id", "code", "batch_number", "medication_code")


def plan_reads(conn, tables: list[str], merged: list[str]) -> dict[str, tuple[str, sql.Composable, dict]]:
    """The application's kinds of reads, for every legacy table it reads (APP_ACCESS.md): by id, by
    patient, ILIKE on its name/phone-like columns, newest first. Search terms and keys are sampled
    from the legacy rows (values stay inside the test, never printed)."""
    reads: dict[str, tuple[str, sql.Composable, dict]] = {}
    for t in tables:
        ident = sql.Identifier("public", t)
        cols = {c.name: c.type for c in legacy_columns(conn, "public", t)}
        ids = [r[0] for r in conn.execute(sql.SQL("select id from {} order by id limit 3").format(ident))]
        reads[f"{t} by id"] = (t, sql.SQL("select * from {} where id = any(%(ids)s)").format(ident), {"ids": ids})
        if cols.get("patient_id") == "uuid":
            pats = [r[0] for r in conn.execute(sql.SQL(
                "select distinct patient_id from {} where patient_id is not null and patient_id::text <> all(%s) "
                "order by 1 limit 3").format(ident), (merged,))]
            if pats:
                reads[f"{t} by patient"] = (t, sql.SQL("select * from {} where patient_id = any(%(p)s)").format(ident),
                                            {"p": pats})
        for col in SEARCHED:
            if col not in cols or not (cols[col].startswith("char") or cols[col] == "text"):
                continue
            term = conn.execute(sql.SQL(
                "select substr(btrim({c}), greatest(length(btrim({c})) - 3, 1), 4) from {t} "
                "where length(btrim({c})) >= 4 order by id limit 1").format(c=sql.Identifier(col), t=ident)).fetchone()
            if term:
                reads[f"{t} ilike {col}"] = (t, sql.SQL("select * from {} where {} ilike %(q)s").format(
                    ident, sql.Identifier(col)), {"q": f"%{term[0]}%"})
        if "created_at" in cols:
            reads[f"{t} newest first"] = (t, sql.SQL("select * from {} order by created_at desc nulls last, id limit 10")
                                          .format(ident), {})
    return reads


EMBEDS = {
    # the embedded reads PostgREST makes through FKs, as joins of legacy ids
    "doctors -> users": "select d.id, u.id as uid from {doctors} d join {users} u on u.id = d.user_id",
    "medicine_batches -> medications": "select b.id, m.id as mid from {medicine_batches} b join {medications} m "
                                       "on m.id = coalesce(b.medication_id, b.medicine_id)",
    "billing -> billing_payments": "select b.id, p.id as pid from {billing} b join {billing_payments} p on p.billing_id = b.id",
    "bed_allocations -> beds/patients": "select a.id, b.id as bid, p.id as pid from {bed_allocations} a "
                                        "join {beds} b on b.id = a.bed_id join {patients} p on p.id = a.patient_id",
}


def read_everything(conn, params: dict) -> dict:
    out = {"select *": {t: rows_by_key(conn, sql.SQL(SELECT_ALL).format(sql.Identifier("public", t)))
                        for t in params["present"]}}
    for name, (_table, query, args) in params["reads"].items():
        out[name] = rows_by_key(conn, query, args)
    for name, query in EMBEDS.items():
        idents = {t: sql.Identifier("public", t) for t in
                  ("doctors", "users", "medicine_batches", "medications", "billing", "billing_payments", "bed_allocations",
                   "beds", "patients")}
        out[name] = Counter(tuple(str(v) for v in r) for r in conn.execute(sql.SQL(query).format(**idents)).fetchall())
    return out


def explained(table: str, keys: set[str], before_all: dict, after_all: dict) -> bool:
    """Keys a read found on one side only are explained when each differs, in ``select *``, only in
    documented normalised columns (e.g. a search on a phone whose format is normalised)."""
    allowed = normalised().get(table, set())
    for key in keys:
        b, a = before_all.get(key), after_all.get(key)
        if b is None or a is None:
            return False
        changed = {c for c in b if a.get(c) != b[c]}
        if not changed or not changed <= allowed:
            return False
    return True


@pytest.fixture(scope="module", params=["blueprint", "live"])
def switched(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "compat")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile=request.param)
        pipe = Pipeline(url, mp)
        assert pipe.delta()
        with psycopg.connect(url, autocommit=True) as conn:
            present = app_tables(conn)
            merged = [r[0] for r in conn.execute(
                "select legacy_key from ops.legacy_id_map where legacy_table = 'patients' "
                "and canonical_table = 'core.patients' and disposition = 'MERGED'")]
            params = {"present": present, "reads": plan_reads(conn, present, merged)}
            before = read_everything(conn, params)
        result = pipe.compat()
        yield url, pipe, params, before, result
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_switch_puts_a_view_under_every_legacy_name_the_app_uses(switched):
    url, _pipe, params, _before, result = switched
    with psycopg.connect(url) as conn:
        tables = set(switch.legacy_base_tables(conn, "legacy_archive"))
    assert sorted(result.views) == sorted(t for t in params["present"] if t in tables)
    with psycopg.connect(url) as conn:
        for table in result.views:
            kind, options = conn.execute(
                "select c.relkind, c.reloptions from pg_class c where c.oid = to_regclass(%s)", (f"public.{table}",)).fetchone()
            assert kind == "v" and "security_invoker=true" in (options or []), table
            view = [(c.name, c.type) for c in legacy_columns(conn, "public", table)]
            archived = [(c.name, c.type) for c in legacy_columns(conn, "legacy_archive", table)]
            assert view == archived, f"{table}: the view's columns are not the legacy table's (names, types, order)"
            assert conn.execute("select count(*) from pg_trigger where tgrelid = to_regclass(%s)",
                                (f"public.{table}",)).fetchone()[0] == 1, table
        # every legacy row is visible once: from canonical, or from the archive while quarantined
        for table, v in result.summary["visibility"].items():
            assert v["archived_not_shown"] == 0, table
        assert switch.compat_is_on(conn)


def test_select_star_returns_the_same_rows_modulo_documented_normalisations(switched):
    url, _pipe, params, before, _result = switched
    with psycopg.connect(url) as conn:
        after = read_everything(conn, params)
    problems = []
    for table, rows in before["select *"].items():
        problems += differences(table, rows, after["select *"][table])
    assert problems == []
    # the list of normalisations is short and each one is used or at least names a real column
    allowed = normalised()
    assert sum(len(v) for v in allowed.values()) <= 40
    assert len({r["rule"] for r in csv.DictReader(open(NORMALISATIONS, encoding="utf-8"))}) <= 10


def test_the_apps_reads_return_the_same_rows(switched):
    url, _pipe, params, before, _result = switched
    with psycopg.connect(url) as conn:
        after = read_everything(conn, params)
    assert len(params["reads"]) >= 3 * len(params["present"])
    problems = []
    for name, (table, _q, _a) in params["reads"].items():
        if not before[name]:
            continue  # e.g. no row of that table carries a patient
        b, a = before[name], after[name]
        lost, extra = set(b) - set(a), set(a) - set(b)
        # a normalised created_at (a merged duplicate shows its survivor's) moves rows across a LIMIT
        moved = name.endswith("newest first") and "created_at" in normalised().get(table, set())
        if (lost or extra) and not moved and not explained(table, lost | extra, before["select *"][table],
                                                            after["select *"][table]):
            problems.append(f"{name}: {len(lost)} rows missing, {len(extra)} extra")
        problems += [f"{name}: {p}" for p in differences(table, {k: b[k] for k in set(b) & set(a)},
                                                            {k: a[k] for k in set(b) & set(a)})]
    for name in EMBEDS:
        assert before[name], f"{name}: the join finds nothing before the switch (a test that could not fail)"
        if after[name] != before[name]:
            problems.append(f"{name}: the embedded join returns other pairs")
    assert problems == []


def _one(conn, query, params=()):
    return conn.execute(query, params).fetchone()


def test_the_apps_writes_land_in_canonical_with_provenance(switched):
    url, _pipe, _params, _before, _result = switched
    with psycopg.connect(url, autocommit=True) as conn:
        doctor = _one(conn, "select id from public.doctors order by id limit 1")[0]
        # register a patient (the view gives the legacy defaults: id, status ...)
        pid = _one(conn, """insert into public.patients (patient_id, name, gender, phone, date_of_birth, created_at)
                            values ('AP-T-0001', 'Test Person', 'female', '9876500001', '1990-01-02', now())
                            returning id""")[0]
        canonical = _one(conn, """select p.patient_id, p.uhid from ops.legacy_id_map m join core.patients p
                                  on p.patient_id = m.canonical_id where m.legacy_table = 'patients'
                                  and m.legacy_key = %s and m.canonical_table = 'core.patients'""", (str(pid),))
        assert canonical is not None and canonical[1] == "AP-T-0001"
        assert _one(conn, "select name, phone from public.patients where id = %s", (pid,)) == ("Test Person", "9876500001")
        # record vitals on the wide row
        conn.execute("update public.patients set pulse = '72', temperature = '98.6' where id = %s", (pid,))
        assert _one(conn, "select pulse, temperature from public.patients where id = %s", (pid,)) == ("72", "98.6")
        assert _one(conn, """select count(*) from clinical.vitals v join clinical.encounters e on e.encounter_id = v.encounter_id
                             where e.patient_id = %s and v.deleted_at is null""", (canonical[0],))[0] >= 2
        # book and cancel an appointment
        enc = _one(conn, "insert into public.encounter (patient_id, clinician_id, start_at) values (%s, %s, now()) "
                         "returning id", (pid, doctor))[0]
        appt = _one(conn, "insert into public.appointment (id, encounter_id, scheduled_at) values (gen_random_uuid(), %s, "
                          "now() + interval '1 day') returning id", (enc,))[0]
        status = _one(conn, """select a.status from ops.legacy_id_map m join clinical.appointments a
                               on a.appointment_id = m.canonical_id where m.legacy_table = 'appointment' and m.legacy_key = %s""",
                      (str(appt),))
        assert status == ("BOOKED",)
        cancelled = _one(conn, "select id from public.ref_code where code = 'cancelled' order by id limit 1")
        if cancelled:
            conn.execute("update public.appointment set status_id = %s where id = %s", (cancelled[0], appt))
            assert _one(conn, """select a.status from ops.legacy_id_map m join clinical.appointments a
                                 on a.appointment_id = m.canonical_id where m.legacy_table = 'appointment'
                                 and m.legacy_key = %s""", (str(appt),)) == ("CANCELLED",)
        # a bill with items and a payment
        bill = _one(conn, "insert into public.billing (bill_number, patient_id, subtotal, issued_at) "
                          "values ('T-BILL-1', %s, 300, now()) returning id", (pid,))[0]
        service = _one(conn, "select id from public.ref_code where domain = 'billing_line' and code = 'service' "
                             "order by id limit 1")[0]
        conn.execute("insert into public.billing_item (billing_id, line_type_id, description, qty, unit_amount, total_amount) "
                     "values (%s, %s, 'Consultation', 1, 200, 200), (%s, %s, 'Dressing', 2, 50, 100)",
                     (bill, service, bill, service))
        cashier = _one(conn, "select id from public.users order by id limit 1")[0]
        conn.execute("insert into public.billing_payments (billing_id, amount, method, paid_at, received_by) "
                     "values (%s, 300, 'cash', now(), %s)", (bill, cashier))
        inv = _one(conn, """select i.due_amount, i.paid_amount, i.status from ops.legacy_id_map m join billing.invoices i
                            on i.invoice_id = m.canonical_id where m.legacy_table = 'billing' and m.legacy_key = %s""",
                   (str(bill),))
        assert inv == (Decimal("300.00"), Decimal("300.00"), "PAID")
        lines = _one(conn, """select count(*), sum(l.amount) from billing.invoice_lines l join ops.legacy_id_map m
                              on m.canonical_id = l.invoice_id and m.legacy_table = 'billing' and m.legacy_key = %s
                              where l.deleted_at is null""", (str(bill),))
        assert lines == (2, Decimal("300.00"))
        assert _one(conn, "select count(*) from public.billing_item where billing_id = %s", (bill,))[0] == 2
        # allocate and release a bed
        bed = _one(conn, """select b.id from public.beds b where not exists (select 1 from public.bed_allocations a
                            where a.bed_id = b.id and a.discharge_date is null) order by b.id limit 1""")[0]
        alloc = _one(conn, "insert into public.bed_allocations (bed_id, patient_id, doctor_id, admission_date, status) "
                           "values (%s, %s, %s, now(), 'active') returning id", (bed, pid, doctor))[0]
        assert _one(conn, """select count(*) from ops.legacy_id_map where legacy_table = 'bed_allocations'
                             and legacy_key = %s""", (str(alloc),))[0] >= 1
        conn.execute("update public.bed_allocations set discharge_date = now() + interval '2 days', status = 'discharged' "
                     "where id = %s", (alloc,))
        assert _one(conn, "select status from public.bed_allocations where id = %s", (alloc,)) == ("discharged",)
        # receive a batch and sell from it
        med = _one(conn, "select id from public.medications where status = 'active' order by id limit 1")[0]
        batch = _one(conn, """insert into public.medicine_batches (medication_id, medicine_id, batch_number, expiry_date,
                                  received_quantity, current_quantity, received_date, status)
                              values (%s, %s, 'T-B-1', current_date + 400, 20, 20, current_date, 'active') returning id""",
                     (med, med))[0]
        conn.execute("""insert into public.stock_transactions (medication_id, batch_number, transaction_type, quantity,
                            unit_price, total_amount, transaction_date, created_at)
                        values (%s, 'T-B-1', 'sale', -3, 10, 30, now(), now())""", (med,))
        conn.execute("update public.medicine_batches set current_quantity = 17 where id = %s", (batch,))
        assert _one(conn, "select current_quantity from public.medicine_batches where id = %s", (batch,)) == (17,)
        stock = _one(conn, """select sum(t.qty) from pharmacy.inventory_txns t join ops.legacy_id_map m
                              on m.canonical_id = t.batch_id and m.legacy_table = 'medicine_batches' and m.legacy_key = %s
                              where t.deleted_at is null""", (str(batch),))
        assert stock == (Decimal("17"),)
        # nothing of this was quarantined: every write applied
        assert _one(conn, "select count(*) from compat.writes where outcome = 'QUARANTINED'")[0] == 0
        assert _one(conn, "select count(*) from compat.writes where outcome = 'APPLIED'")[0] >= 12


def test_status_and_the_schedule_know_the_switch_is_on(switched):
    url, *_ = switched
    from hms_pipeline.quality.gates import cutover_skip_reason

    assert "compatibility views are on" in (cutover_skip_reason() or "")
    with psycopg.connect(url) as conn:
        s = switch.state(conn)
    assert s["action"] == "compat" and float(s["lock_ms"]) > 0


def write_loop(url: str, stop, out, iterations) -> None:
    """The old application, in a process of its own: registers patients, opens encounters, bills and
    sells, without pause, through the legacy names, one autocommit statement at a time. Puts every
    key it wrote, its errors, and each iteration's start and end (monotonic clock) on ``out``."""
    rng = random.Random(7)
    written, errors, spans = [], [], []
    with psycopg.connect(url, autocommit=True) as conn:
        med = conn.execute("select id from public.medications where status = 'active' order by id limit 1").fetchone()[0]
        batch = conn.execute("select batch_number from public.medicine_batches where medication_id = %s "
                             "and batch_number is not null order by id limit 1", (med,)).fetchone()
        n = 0
        while not stop.is_set() and n < 20000:
            n += 1
            started = time.monotonic()
            try:
                pid = conn.execute("insert into public.patients (id, patient_id, name, created_at) values "
                                   "(gen_random_uuid(), %s, %s, now()) returning id",
                                   (f"AP-W-{n:04d}", f"Writer {n}")).fetchone()[0]
                written.append(("patients", str(pid)))
                enc = conn.execute("insert into public.encounter (id, patient_id, start_at) values "
                                   "(gen_random_uuid(), %s, now()) returning id", (pid,)).fetchone()[0]
                written.append(("encounter", str(enc)))
                bill = conn.execute("insert into public.billing (id, bill_number, patient_id, subtotal, issued_at) "
                                    "values (gen_random_uuid(), %s, %s, 100, now()) returning id",
                                    (f"W-{n:04d}", pid)).fetchone()[0]
                written.append(("billing", str(bill)))
                if batch:
                    st = conn.execute("insert into public.stock_transactions (id, medication_id, batch_number, "
                                      "transaction_type, quantity, unit_price, total_amount, transaction_date, created_at) "
                                      "values (gen_random_uuid(), %s, %s, 'sale', -1, 10, 10, now(), now()) returning id",
                                      (med, batch[0])).fetchone()[0]
                    written.append(("stock_transactions", str(st)))
            except psycopg.Error as exc:  # the test fails on any: the app's writes never fail
                errors.append(f"{type(exc).__name__}: {exc.sqlstate}")
            spans.append((started, time.monotonic()))
            with iterations.get_lock():
                iterations.value += 1
            stop.wait(rng.uniform(0, 0.01))  # pacing; returns at once when told to stop
    out.put((written, errors, spans))


def test_a_concurrent_writer_loses_nothing_through_switch_and_rollback(pg_server_url, make_db, monkeypatch, capsys):
    url = make_db("compatw")
    prepare(url, profile="blueprint")
    pipe = Pipeline(url, monkeypatch)
    assert pipe.delta()
    ctx = multiprocessing.get_context("spawn")
    stop, out, iterations = ctx.Event(), ctx.Queue(), ctx.Value("i", 0)
    writer = ctx.Process(target=write_loop, args=(url, stop, out, iterations), daemon=True)
    writer.start()

    def wait_for_iterations(n: int) -> None:
        deadline = time.monotonic() + 120
        while iterations.value < n and writer.is_alive() and time.monotonic() < deadline:
            stop.wait(0.05)
        assert iterations.value >= n, "the writer stopped writing"

    wait_for_iterations(5)  # the writer is up and writing before the switch starts
    result = pipe.compat()
    switched_at = time.monotonic()
    wait_for_iterations(iterations.value + 5)  # and goes on writing through the views
    stop.set()
    written, errors, spans = out.get(timeout=120)
    writer.join(30)
    assert errors == []
    assert len(written) > 8
    # it wrote before the switch (legacy tables), and after it (through the views)
    locked_at = result.locked_at
    assert any(end < locked_at for _, end in spans) and any(start > switched_at for start, _ in spans)
    longest = max(spans, key=lambda s: s[1] - s[0])
    with capsys.disabled():
        print(f"\nconcurrent writer: {len(written)} writes, longest write stall {(longest[1] - longest[0]) * 1000:.0f} ms "
              f"(from {longest[0] - locked_at:+.1f} s to {longest[1] - locked_at:+.1f} s of the write lock), "
              f"writes blocked {result.lock_ms:.0f} ms by the switch")
    with psycopg.connect(url) as conn:
        homes = {"patients": "core.patients", "encounter": "clinical.encounters", "billing": "billing.invoices",
                 "stock_transactions": "pharmacy.inventory_txns"}
        # every write in canonical exactly once: one statement over all the writer's keys
        wrong = conn.execute(
            """select w.legacy_table, count(m.canonical_id) from unnest(%s::text[], %s::text[], %s::text[])
                   as w (legacy_table, legacy_key, canonical_table)
               left join ops.legacy_id_map m on m.legacy_table = w.legacy_table and m.legacy_key = w.legacy_key
                    and m.canonical_table = w.canonical_table
               group by w.legacy_table, w.legacy_key having count(m.canonical_id) <> 1""",
            ([t for t, _ in written], [k for _, k in written], [homes[t] for t, _ in written])).fetchall()
        assert wrong == [], f"writes of the concurrent writer not in canonical exactly once: {wrong[:5]}"
        written_patients = [k for t, k in written if t == "patients"]
        live = conn.execute("""select count(*) from ops.legacy_id_map m join core.patients p on p.patient_id = m.canonical_id
                               where m.legacy_table = 'patients' and m.legacy_key = any(%s) and p.deleted_at is null""",
                            (written_patients,)).fetchone()[0]
        assert live == len(written_patients)
    # rollback right after: the legacy tables come back with every write
    pipe.rollback()
    with psycopg.connect(url) as conn:
        assert not switch.compat_is_on(conn)
        for table in ("patients", "encounter", "billing", "stock_transactions"):
            keys = [k for t, k in written if t == table]
            found = conn.execute(sql.SQL("select count(*) from {} where id::text = any(%s)").format(
                sql.Identifier("public", table)), (keys,)).fetchone()[0]
            assert found == len(keys), f"{table}: rollback lost writes"
        assert conn.execute("select to_regclass('legacy_archive.patients') is null").fetchone()[0]
    # and a second switch works again (the deltas picked the writes up: nothing new to load)
    again = pipe.compat()
    assert again.views and all(v["archived_not_shown"] == 0 for v in again.summary["visibility"].values())


def test_cutover_status_and_env_commands(switched, tmp_path, monkeypatch, capsys):
    url, *_ = switched
    from hms_pipeline.cli import main

    monkeypatch.setenv("HMS_DATABASE_URL", url)
    assert main(["cutover", "status"]) == 0
    out = capsys.readouterr().out
    assert "phase 3 (compat)" in out and "patients:" in out and "writes through the views" in out
    env = tmp_path / "app.env"
    assert main(["cutover", "env", "--output", str(env)]) == 0
    lines = [line for line in env.read_text().splitlines() if line.startswith("TABLE_")]
    assert len(lines) == 37 and "TABLE_PATIENTS=core.patients" in lines
    # a name that does not resolve for the application is named, and the command fails
    monkeypatch.setenv("TABLE_WARDS", "inpatient.no_such_table")
    assert main(["cutover", "env", "--output", str(env)]) == 1
    assert "TABLE_WARDS=inpatient.no_such_table: no such relation" in capsys.readouterr().out


def test_compat_refuses_a_second_switch_and_names_why(switched):
    from hms_pipeline.compat.views import CompatError

    _url, pipe, *_ = switched
    with pytest.raises(CompatError, match="already on"):
        pipe.compat()


def test_compat_refuses_while_a_blocking_check_fails_and_switches_nothing(make_db, monkeypatch):
    from hms_pipeline.compat.views import CompatError

    url = make_db("compatref")
    prepare(url, profile="blueprint")
    pipe = Pipeline(url, monkeypatch)
    assert pipe.delta()
    with psycopg.connect(url) as conn:
        # money changed behind the pipeline's back: the blocking money checks fail on the next delta
        conn.execute("""update billing.invoices set due_amount = due_amount + 100 where invoice_id =
                        (select invoice_id from billing.invoices where deleted_at is null order by invoice_id limit 1)""")
        conn.commit()
    assert not pipe.delta()
    with pytest.raises(CompatError, match=r"refused: blocking check\(s\) failing: .*billing"):
        pipe.compat()
    with psycopg.connect(url) as conn:
        assert not switch.compat_is_on(conn)
        assert conn.execute("select to_regclass('legacy_archive.patients') is null "
                            "and to_regclass('public.patients') is not null").fetchone()[0]
