"""billing: fee catalog, charges -> invoices -> payments (issue #12), on generated data.

Both profiles (blueprint, live) against the generator's ground truth (hms_truth figures money_billed
and money_paid, per legacy patient and in total, and the defects' expected outcomes); the hostile
profile for the money identities alone (its outcome figures are dropped by the generator); a delta
that adds a payment to one bill."""

from __future__ import annotations

from decimal import Decimal

import psycopg
from psycopg import sql
import pytest

from backfill_helpers import failed_checks, fingerprint, materializations, prepare, run_backfill

TARGETS = ["billing.payments", "billing.invoice_lines", "billing.fee_rates"]
BILLING = ("billing/fee_schedules", "billing/fee_rates", "billing/charges", "billing/invoices",
           "billing/invoice_lines", "billing/payments")
CONSERVATION = {"billing/invoices": {"conservation_billed_per_patient"},
                "billing/invoice_lines": {"conservation_due_per_invoice"},
                "billing/payments": {"conservation_paid_per_patient", "conservation_paid_per_invoice",
                                     "conservation_bill_rows_accounted"}}
# keys a billing quarantine detail may carry: rule, column, legacy keys, amounts; never a name or text
DETAIL_KEYS = {"rule", "column", "amount", "line_amount", "copy_amount", "carried_amount", "bill_table", "bill_key",
               "copy_of", "copy_of_reason", "subtotal", "lines", "survivor", "fees", "warn", "warns", "constraint",
               "expectation", "survivor_key", "expected_type"}  # expected_type: staging's type-drift rejects


def run(monkeypatch, url: str, *, suites: bool = False):
    result = run_backfill(monkeypatch, url, targets=TARGETS, suites=suites)
    billing_failures = [f for f in failed_checks(result) if f.startswith("billing/")]
    assert result.success, failed_checks(result)
    assert billing_failures == []
    return result


@pytest.fixture(scope="module", params=["blueprint", "live", "hostile"])
def generated(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "bill")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile=request.param)
        first = run(mp, url, suites=request.param != "hostile")
        before = fingerprint(url)
        second = run(mp, url)
        yield request.param, url, first, materializations(second), before
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def truth(conn, name: str) -> dict[str, Decimal]:
    return dict(conn.execute("select key, value from hms_truth.figures where name = %s", (name,)).fetchall())


def test_money_checks_run_and_pass(generated):
    _, _, first, *_ = generated
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in first.get_asset_check_evaluations()}
    for asset, names in CONSERVATION.items():
        for name in names:
            e = evaluations[(asset, name)]
            assert e.passed, (asset, name, e.description)
            assert e.severity.value == "ERROR"
            assert e.metadata["subjects"].value > 0
    for asset in BILLING:
        assert evaluations[(asset, "reconciliation")].passed, asset


def test_billed_equals_the_truth_per_patient(generated):
    """Per legacy patient: canonical invoiced + quarantined (lines, unitemized subtotal) = the truth's
    money_billed (the billing table's bills, future ones excluded); the future bill is quarantined
    FUTURE_DATE with its whole amount."""
    profile, url, *_ = generated
    if profile == "hostile":
        pytest.skip("the hostile profile drops the money figures (generator HOSTILE_DROPPED_FIGURES)")
    with psycopg.connect(url) as conn:
        expected = truth(conn, "money_billed")
        actual = dict(conn.execute("""
            with h as (select * from etl.billing_headers() where legacy_table = 'billing' and not is_deleted),
            q as (select legacy_table, legacy_key, target_table, (detail->>'amount')::numeric as amount
                  from ops.quarantine where resolved_at is null and detail ? 'amount'),
            per_bill as (
                select coalesce(h.patient_key, '*no_patient') as key,
                       i.due_amount
                       + coalesce((select sum(q.amount) from q join etl.billing_lines() l
                                   on l.legacy_table = q.legacy_table and l.legacy_key = q.legacy_key
                                   where q.target_table = 'billing.charges' and l.header_table = 'billing'
                                     and l.header_key = h.legacy_key), 0)
                       + coalesce((select sum(q.amount) from q where q.target_table = 'billing.invoices'
                                   and q.legacy_table = 'billing' and q.legacy_key = h.legacy_key || '#unitemized'), 0)
                       as amount
                from h
                join billing.invoices i on i.invoice_id = etl.canonical_id('billing.invoices', 'billing', h.legacy_key)
                     and i.deleted_at is null)
            select key, sum(amount) from per_bill group by 1""").fetchall())
        assert actual == expected
        assert sum(actual.values()) == sum(expected.values()) > 0
        # every bill loads but the truth's future one, quarantined with its amount
        future = conn.execute("""select d.legacy_key, q.reason_code, (q.detail->>'amount')::numeric,
                                        bl.subtotal - coalesce(bl.discount_amount, bl.discount) + bl.tax
                                 from hms_truth.defects d join public.billing bl on bl.id::text = d.legacy_key
                                 left join ops.quarantine q on q.target_table = 'billing.invoices' and q.legacy_table = 'billing'
                                      and q.legacy_key = d.legacy_key and q.resolved_at is null
                                 where d.kind = 'future_date'""").fetchall()
        assert future and all(r[1] == "FUTURE_DATE" and r[2] == r[3] for r in future)
        loaded = conn.execute("""select count(*) from billing.invoices i join ops.legacy_id_map m on m.canonical_id = i.invoice_id
                                 where m.legacy_table = 'billing' and i.deleted_at is null""").fetchone()[0]
        assert loaded == conn.execute("select count(*) from public.billing").fetchone()[0] - len(future)
        # ITEMS_TOTAL_MISMATCH: the truth's bills, warned (both figures kept) and their excess quarantined
        mismatch = {r[0] for r in conn.execute("select legacy_key from hms_truth.defects where kind = 'items_total_mismatch'")}
        quarantined = {r[0].split("#")[0] for r in conn.execute(
            """select legacy_key from ops.quarantine where target_table = 'billing.invoices' and resolved_at is null
               and reason_code = 'ITEMS_TOTAL_MISMATCH'""")}
        assert quarantined == mismatch
        warned = {r[0] for r in conn.execute(
            """select m.legacy_key from billing.invoices i join ops.legacy_id_map m on m.canonical_id = i.invoice_id
               where i.legacy_attributes -> 'warns' ? 'ITEMS_TOTAL_MISMATCH'""")}
        assert warned == mismatch


def test_paid_equals_the_truth_per_patient_and_refunds_and_credit_stay_visible(generated):
    profile, url, *_ = generated
    if profile == "hostile":
        pytest.skip("the hostile profile drops the money figures (generator HOSTILE_DROPPED_FIGURES)")
    with psycopg.connect(url) as conn:
        expected = truth(conn, "money_paid")
        actual = dict(conn.execute("""
            select coalesce(bl.patient_id::text, '*no_patient'), sum(p.amount)
            from billing.payments p
            join ops.legacy_id_map m on m.canonical_id = p.payment_id and m.canonical_table = 'billing.payments'
                 and m.legacy_table = 'billing_payments' and m.disposition = 'LOADED'
            join public.billing_payments bp on bp.id::text = m.legacy_key
            join public.billing bl on bl.id = bp.billing_id
            where p.deleted_at is null group by 1""").fetchall())
        assert actual == expected
        # quarantine by reason: the truth's rows, with their amounts; the future bill's payments too
        reasons = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
            """select legacy_table, reason_code, count(*), sum((detail->>'amount')::numeric) from ops.quarantine
               where target_table = 'billing.payments' and resolved_at is null and reason_code <> 'DUPLICATE'
               group by 1, 2""")}
        figures = truth(conn, "quarantined_rows")
        for key in ("billing_payments|NEGATIVE_AMOUNT", "billing_payments|NOT_A_PAYMENT", "billing_payments|ORPHAN_FK"):
            table, reason = key.split("|")
            assert reasons[(table, reason)][0] == figures[key], key
        assert reasons[("billing_payments", "NEGATIVE_AMOUNT")][1] < 0  # refunds keep their (negative) amount
        credit = conn.execute("select sum(amount) from public.billing_payments where method = 'credit'").fetchone()[0]
        assert reasons[("billing_payments", "NOT_A_PAYMENT")][1] == credit
        assert conn.execute("select count(*) from billing.payments where amount <= 0").fetchone()[0] == 0


def test_no_legacy_payment_is_counted_twice(generated):
    """The ledger repeats billing_payments: a copy is MERGED into the payment it copies (or, when that
    row is no payment, quarantined DUPLICATE naming it); foreign ledger rows are quarantined."""
    profile, url, *_ = generated
    with psycopg.connect(url) as conn:
        ledger = "payment_ledger" if profile in ("live", "hostile-live") else "payment_history"
        rows = conn.execute(
            """select d.legacy_key, split_part(d.expected, ':', 2), m.disposition, m.canonical_id,
                      etl.canonical_id('billing.payments', 'billing_payments', split_part(d.expected, ':', 2)),
                      q.detail ->> 'copy_of'
               from hms_truth.defects d
               left join ops.legacy_id_map m on m.canonical_table = 'billing.payments' and m.legacy_table = d.legacy_table
                    and m.legacy_key = d.legacy_key
               left join ops.quarantine q on q.target_table = 'billing.payments' and q.legacy_table = d.legacy_table
                    and q.legacy_key = d.legacy_key and q.resolved_at is null and q.reason_code = 'DUPLICATE'
               where d.kind = 'ledger_copy' and d.legacy_table = %s
                 and not coalesce((d.detail ->> 'hostile_touched')::boolean, false)""", (ledger,)).fetchall()
        assert rows
        for key, copy_of, disposition, canonical, payment, dup_of in rows:
            assert (disposition == "MERGED" and canonical == payment) or (disposition is None and dup_of == copy_of), key
        merged = sum(1 for r in rows if r[2] == "MERGED")
        assert merged > 0
        # one payment per loaded legacy payment row: no payment id from a ledger copy
        assert conn.execute(
            """select count(*) from billing.payments p where p.deleted_at is null and not exists (
                   select 1 from ops.legacy_id_map m where m.canonical_id = p.payment_id and m.disposition = 'LOADED')""").fetchone()[0] == 0
        if profile != "hostile":
            foreign = conn.execute(
                """select count(*) from hms_truth.defects d join ops.quarantine q on q.target_table = 'billing.payments'
                   and q.legacy_table = d.legacy_table and q.legacy_key = d.legacy_key and q.reason_code = 'ORPHAN_FK'
                   and q.resolved_at is null and q.detail ? 'amount'
                   where d.kind = 'orphan_fk' and d.legacy_table = %s""", (ledger,)).fetchone()[0]
            assert foreign == conn.execute("select count(*) from hms_truth.defects where kind = 'orphan_fk' and legacy_table = %s",
                                           (ledger,)).fetchone()[0] > 0


def test_invoices_walk_ins_statuses_and_lines(generated):
    profile, url, *_ = generated
    with psycopg.connect(url) as conn:
        # walk-in bills are kept, without a patient
        walk = conn.execute(
            """select count(*) filter (where i.buyer_type = 'WALK_IN' and i.patient_id is null), count(*)
               from hms_truth.defects d
               join ops.legacy_id_map m on m.canonical_table = 'billing.invoices' and m.legacy_table = 'billing' and m.legacy_key = d.legacy_key
               join billing.invoices i on i.invoice_id = m.canonical_id
               where d.kind = 'walk_in_bill' and not coalesce((d.detail ->> 'hostile_touched')::boolean, false)""").fetchone()
        assert walk[0] == walk[1] > 0
        assert conn.execute("""select count(*) from billing.invoices where deleted_at is null
                               and (buyer_type = 'PATIENT') <> (patient_id is not null)""").fetchone()[0] == 0
        # status follows the money
        bad = conn.execute(
            """select count(*) from billing.invoices where deleted_at is null and status <> 'VOID' and status <> 'DRAFT'
               and (status = 'PAID') <> (paid_amount >= due_amount)""").fetchone()[0]
        assert bad == 0
        # one line per charge, amount = the charge's total; charges keep qty > 0 and unit_price >= 0
        assert conn.execute(
            """select count(*) from billing.invoice_lines l join billing.charges c on c.charge_id = l.charge_id
               where l.deleted_at is null and l.amount <> c.total""").fetchone()[0] == 0
        assert conn.execute("select count(*) - count(distinct charge_id) from billing.invoice_lines where deleted_at is null").fetchone()[0] == 0
        assert conn.execute("select count(*) from billing.charges where qty <= 0 or unit_price < 0").fetchone()[0] == 0
        # no line description is legacy free text: every one is a fee's or an item's name
        assert conn.execute(
            """select count(*) from billing.invoice_lines l where l.deleted_at is null and l.description is not null
               and not exists (select 1 from billing.fee_schedules f where l.description in (f.name, f.name || ' (external)'))
               and not exists (select 1 from pharmacy.items i where i.name = l.description)""").fetchone()[0] == 0
        # bed charges and registration fees are charged once: on their own or merged into a bill's charge
        carried = conn.execute(
            """select count(*) from ops.legacy_id_map where canonical_table = 'billing.charges'
               and legacy_table in ('bed_allocations', 'patients') and disposition = 'MERGED'""").fetchone()[0]
        own = conn.execute(
            """select count(*) from ops.legacy_id_map where canonical_table = 'billing.charges'
               and legacy_table in ('bed_allocations', 'patients') and disposition = 'LOADED'""").fetchone()[0]
        assert own > 0 and (carried > 0 or profile == "live")


def test_quarantine_detail_has_no_values_of_rows(generated):
    _, url, *_ = generated
    with psycopg.connect(url) as conn:
        keys = {k for (d,) in conn.execute(
            "select detail from ops.quarantine where target_table like 'billing.%' and resolved_at is null") for k in d}
        assert keys <= DETAIL_KEYS, keys - DETAIL_KEYS
        # the walk-in buyer's name and phone are nowhere in the billing tables
        names = [r[0] for r in conn.execute("select distinct customer_name from public.billing where customer_name is not null")]
        for table in ("invoices", "invoice_lines", "charges", "payments"):
            text = conn.execute(sql.SQL("select coalesce(string_agg(t::text, '|'), '') from {} t").format(
                sql.Identifier("billing", table))).fetchone()[0]
            assert not [n for n in names if len(n) > 3 and n in text], table


def test_a_rerun_without_change_writes_nothing(generated):
    _, url, _, second, before = generated
    for asset in BILLING:
        assert second[asset]["rows_written"] == 0, asset
        assert second[asset].get("rows_soft_deleted", 0) == 0, asset
    assert fingerprint(url) == before


def test_a_delta_payment_updates_one_invoice(pg_server_url, monkeypatch):
    """A payment added to an unpaid legacy bill: that invoice's paid_amount and status change, one
    payment is written, nothing else (etl.run_stats, updated_at)."""
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "billdelta")
    try:
        prepare(url, profile="blueprint")
        run(monkeypatch, url)
        with psycopg.connect(url) as conn:
            bill, invoice, due = conn.execute(
                """select m.legacy_key, i.invoice_id, i.due_amount from billing.invoices i
                   join ops.legacy_id_map m on m.canonical_id = i.invoice_id and m.legacy_table = 'billing'
                   where i.status = 'ISSUED' and i.paid_amount = 0 and i.due_amount > 0
                   order by m.legacy_key limit 1""").fetchone()
            stamps = dict(conn.execute("select invoice_id, updated_at from billing.invoices").fetchall())
            conn.execute(
                """insert into public.billing_payments (billing_id, amount, method, reference, paid_at, received_by)
                   values (%s, %s, 'upi', 'UPI/000000000001', now(), gen_random_uuid())""", (bill, due))
        result = run(monkeypatch, url)
        with psycopg.connect(url) as conn:
            assert conn.execute("select paid_amount, status from billing.invoices where invoice_id = %s",
                                (invoice,)).fetchone() == (due, "PAID")
            written = dict(conn.execute("select canonical_table, written from etl.run_stats where run_id = %s",
                                        (result.run_id,)).fetchall())
            assert written.get("billing.invoices") == 1
            assert written.get("billing.payments") == 1
            assert written.get("billing.charges", 0) == 0 and written.get("billing.invoice_lines", 0) == 0
            moved = [i for i, at in conn.execute("select invoice_id, updated_at from billing.invoices").fetchall()
                     if stamps.get(i) != at]
            assert moved == [invoice]
            method = conn.execute("""select p.method from billing.payments p where p.invoice_id = %s""", (invoice,)).fetchall()
            assert method == [("UPI",)]
    finally:
        drop_database(pg_server_url, url)


def test_a_bill_without_loaded_lines_keeps_its_discount_visible(pg_server_url, monkeypatch):
    """A bill header whose lines are missing (a copy of a discounted bill, no billing_item of its
    own): its discount cannot apply to any loaded charge. The invoice is due 0, the header subtotal
    is held as ITEMS_TOTAL_MISMATCH and the discount as UNAPPLIED_DISCOUNT (a negative amount), so
    legacy billed = invoiced + held, to the paisa (found by bench_backfill's 1% delta at 100k)."""
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "billdisc")
    try:
        prepare(url, profile="blueprint")
        run(monkeypatch, url)
        with psycopg.connect(url) as conn:
            source = conn.execute(  # a loaded bill with lines whose discount exceeds its tax
                """select h.legacy_key::uuid from etl.billing_headers() h
                   where h.legacy_table = 'billing' and not h.is_deleted and h.reason is null
                     and h.discount > h.tax and h.lines_amount > 0 and h.subtotal > 0
                   order by h.legacy_key limit 1""").fetchone()
            assert source is not None
            copy = conn.execute(
                """insert into public.billing
                   select (jsonb_populate_record(null::public.billing, to_jsonb(b) || jsonb_build_object(
                       'id', gen_random_uuid(), 'bill_no', b.bill_no || '-copy', 'bill_number', b.bill_number || '-copy'))).*
                   from public.billing b where b.id = %s
                   returning id::text""", source).fetchone()[0]
        run(monkeypatch, url)  # the money checks block the run if the identity does not hold
        with psycopg.connect(url) as conn:
            held = dict(conn.execute(
                """select reason_code, (detail->>'amount')::numeric from ops.quarantine
                   where legacy_table = 'billing' and split_part(legacy_key, '#', 1) = %s and resolved_at is null""",
                (copy,)).fetchall())
            header = conn.execute(
                "select billed, subtotal, discount, tax from etl.billing_headers() where legacy_key = %s",
                (copy,)).fetchone()
            due = conn.execute(
                """select i.due_amount, i.discount_amount from billing.invoices i
                   where i.invoice_id = etl.canonical_id('billing.invoices', 'billing', %s)""", (copy,)).fetchone()
        billed, subtotal, discount, tax = header
        assert held["ITEMS_TOTAL_MISMATCH"] == subtotal and held["UNAPPLIED_DISCOUNT"] < 0
        assert due == (0, tax) or due[0] == 0
        assert (due[0] + held["ITEMS_TOTAL_MISMATCH"] + held["UNAPPLIED_DISCOUNT"]) == billed
    finally:
        drop_database(pg_server_url, url)
