"""Issue 12: the validation report's finance section, on a tiny blueprint backfill of billing.

It opens in headless Chromium and shows, legacy beside migrated: what was billed by bill type and
month and what was received by method and month, each figure equal to the same total computed here
in SQL (legacy from the staged legacy rows, migrated from billing.invoices / billing.payments); the
differences attributed to quarantine reasons with their amounts (nothing unexplained); the open
credit and the refunds; the money checks; a chart. No generated name or phone appears. A migrated
amount changed behind the pipeline's back shows up as an unexplained difference and failing money
checks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest

from backfill_helpers import prepare, run_backfill
from hms_pipeline.quality.phi import scan_for_phi, scan_text
from hms_pipeline.quality.reports import CheckRecord, write_run_report
from test_quality_e2e import legacy_phi

TARGETS = ["billing.payments", "billing.invoice_lines"]  # and everything upstream in the backfill phase
TZ = "Asia/Kolkata"
MONEY_CHECKS = {"conservation_due_per_invoice", "conservation_billed_per_patient", "conservation_bill_rows_accounted",
                "conservation_paid_per_invoice", "conservation_paid_per_patient"}

CELL_RE = re.compile(r'data-fin="(?P<key>[^"]+)" data-value="(?P<value>[^"]*)">(?P<shown>[^<]*)<')


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def records(result) -> list[CheckRecord]:
    """The run's checks as the report reads them from the instance (check_records_from_instance)."""
    return [CheckRecord(table=".".join(e.asset_key.path), check=e.check_name, passed=bool(e.passed),
                        blocking=True, severity=e.severity.value, description=(e.description or "")[:300])
            for e in result.get_asset_check_evaluations()]


def cells(dom: str) -> dict[str, tuple[Decimal, str]]:
    out = {}
    for m in CELL_RE.finditer(dom):
        assert m["key"] not in out, m["key"]
        out[m["key"]] = (Decimal(m["value"]), m["shown"])
    return out


def billing_needles(url: str) -> list[str]:
    """The buyer snapshots of the legacy bills (walk-in names, phones, addresses) on top of the
    patients' and users' names, phones and emails."""
    needles = set(legacy_phi(url))
    with psycopg.connect(url) as conn:
        rows = conn.execute("""select customer_name, customer_phone from billing
                               union all select coalesce(customer_name, patient_name), customer_phone from pharmacy_bills
                               union all select customer_address, null from pharmacy_bills
                               union all select patient_name, null from pharmacy_billing""").fetchall()
    for name, phone in rows:
        for v in (name, phone):
            if v and len(v.strip()) >= 5:
                needles.add(" ".join(v.split()))
        digits = re.sub(r"\D", "", phone or "")
        if len(digits) >= 10:
            needles.add(digits[-10:])
    return sorted(needles)


def expected(conn) -> dict[str, Decimal]:
    """Every figure of the section's tables, computed here, keyed like the report's data-fin cells."""
    out: dict[str, Decimal] = {}

    def put(prefix, rows, names):
        totals = defaultdict(Decimal)
        for key, *values in rows:
            key = "none" if key is None else key  # a bill without a date
            for name, v in zip(names, values):
                out[f"{prefix}.{key}.{name}"] = Decimal(v)
                totals[name] += Decimal(v)
        return totals

    # migrated: billing.invoices / billing.payments (the finance lead's SQL, the facility's months)
    for dim, expr in (("bill_type", "bill_type"),
                      ("month", "to_char(coalesce(issued_at, created_at) at time zone %(tz)s, 'YYYY-MM')")):
        totals = put(f"billed.{dim}", conn.execute(
            f"""select {expr}, count(*), sum(due_amount), sum(paid_amount) from billing.invoices
                where deleted_at is null group by 1""", {"tz": TZ}).fetchall(),
            ("canonical_count", "canonical_amount", "received"))
    out |= {f"billed.total.{k}": v for k, v in totals.items()}
    for dim, expr in (("method", "coalesce(method, '(unmapped)')"),
                      ("month", "to_char(coalesce(received_at, created_at) at time zone %(tz)s, 'YYYY-MM')")):
        totals = put(f"received.{dim}", conn.execute(
            f"""select {expr}, count(*), sum(amount) from billing.payments where deleted_at is null group by 1""",
            {"tz": TZ}).fetchall(), ("canonical_count", "canonical_amount"))
    out |= {f"received.total.{k}": v for k, v in totals.items()}

    # legacy: the staged legacy rows, through the billing helpers (never the canonical tables)
    for dim, expr in (("bill_type", "bill_type"),
                      ("month", "to_char(coalesce(issued_at, created_at) at time zone %(tz)s, 'YYYY-MM')")):
        totals = put(f"billed.{dim}", conn.execute(
            f"select {expr}, count(*), sum(billed) from etl.billing_headers() where not is_deleted group by 1",
            {"tz": TZ}).fetchall(), ("legacy_count", "legacy_amount"))
    out |= {f"billed.total.{k}": v for k, v in totals.items()}
    for dim, expr in (("method", "coalesce(m.display, '(unmapped)')"),
                      ("month", "to_char(coalesce(r.paid_at, r.created_at) at time zone %(tz)s, 'YYYY-MM')")):
        totals = put(f"received.{dim}", conn.execute(
            f"""select {expr}, count(*), sum(r.amount) from etl.billing_payment_rows() r
                left join ref.codes m on m.system = 'map:billing.payment_method' and m.code = etl.norm_key(r.method)
                where not r.is_deleted and r.kind <> 'COPY' group by 1""", {"tz": TZ}).fetchall(),
            ("legacy_count", "legacy_amount"))
    out |= {f"received.total.{k}": v for k, v in totals.items()}
    # a group one side lacks shows 0 there
    for key in list(out):
        prefix, name = key.rsplit(".", 1)
        extra = ("received",) if prefix.startswith("billed.") else ()
        for other in ("legacy_count", "legacy_amount", "canonical_count", "canonical_amount", *extra):
            out.setdefault(f"{prefix}.{other}", Decimal(0))
    for key in [k for k in out if k.endswith(".legacy_amount")]:
        prefix = key.rsplit(".", 1)[0]
        out[f"{prefix}.difference"] = out[key] - out[f"{prefix}.canonical_amount"]
        out[f"{prefix}.unexplained"] = Decimal(0)  # every difference is attributed to a reason
    return out


def quarantined_money(conn) -> dict[tuple[str, str], Decimal]:
    """(billed | received, reason) -> the amount ops.quarantine holds open."""
    return {(r[0], r[1]): r[2] for r in conn.execute(
        """select case when target_table = 'billing.payments' then 'received' else 'billed' end, reason_code,
                  sum((detail->>'amount')::numeric)
           from ops.quarantine where resolved_at is null and target_table like 'billing.%' and detail ? 'amount'
           group by 1, 2""").fetchall()}


@pytest.mark.one_server
def test_the_finance_section_shows_legacy_vs_migrated_totals_and_differences_in_chromium(
        fresh_db, monkeypatch, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    prepare(fresh_db)
    needles = billing_needles(fresh_db)
    assert len(needles) > 100
    monkeypatch.setenv("HMS_FACILITY_TIMEZONE", TZ)
    result = run_backfill(monkeypatch, fresh_db, targets=TARGETS, suites=False)
    assert result.success
    checks = records(result)
    run_subjects = {e.check_name: e.metadata["subjects"].value for e in result.get_asset_check_evaluations()
                    if e.check_name in MONEY_CHECKS}
    assert set(run_subjects) == MONEY_CHECKS

    reports = tmp_path / "reports"
    from hms_pipeline.engine import conservation

    recomputed: list[str] = []
    real_run_check = conservation.run_check
    monkeypatch.setattr(conservation, "run_check",
                        lambda conn, path: recomputed.append(path.stem) or real_run_check(conn, path))
    with psycopg.connect(fresh_db) as conn:
        # the facility timezone comes from the settings (HMS_FACILITY_TIMEZONE)
        index = write_run_report(conn, result.run_id, [], reports, checks=checks, data_docs=False,
                                 hmac_secret=b"test-key")
    # nothing the payments checks name changed since the run's last step evaluated them: the report
    # reads their results (a check evaluated earlier in the run is recomputed when a later step
    # wrote a relation it names, e.g. ops.quarantine)
    assert not {"paid_per_invoice", "paid_per_patient", "bill_rows_accounted"} & set(recomputed), recomputed
    recomputed.clear()
    with psycopg.connect(fresh_db) as conn:
        want = expected(conn)
        held = quarantined_money(conn)
        credit = conn.execute("select count(*), sum(amount) from public.billing_payments where method = 'credit'").fetchone()
        refunds = conn.execute("select count(*), sum(amount) from public.billing_payments where amount < 0").fetchone()
    summary = json.loads((index.parent / "summary.json").read_text())
    assert summary["finance"]["error"] is None and summary["finance"]["timezone"] == TZ

    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
         "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=90, check=True).stdout
    assert '<h2 id="finance">Finance</h2>' in dom
    shown = cells(dom)

    # every side-by-side figure equals the SQL total, shown in Indian grouping ("2,76,969.75")
    dims = {"billed": ("bill_type", "month"), "received": ("method", "month")}

    def where(key: str) -> list[str]:  # the total is the last row of both of a side's tables
        side, dim, rest = key.split(".", 2)
        return [f"{side}.{d}.total.{rest}" for d in dims[side]] if dim == "total" else [key]

    for key, value in want.items():
        for k in where(key):
            assert k in shown, k
            assert shown[k][0] == value, (k, shown[k], value)
    # and the tables show no figure the test did not compute
    assert {k for k in shown if k.startswith(("billed.", "received."))} == {k for key in want for k in where(key)}
    assert shown["billed.month.total.legacy_amount"][1] == _indian(want["billed.total.legacy_amount"])
    assert want["billed.total.legacy_amount"] > 0 and want["received.total.canonical_amount"] > 0
    for prefix in ("billed", "received"):  # the headline repeats the totals
        for col in ("legacy_amount", "canonical_amount", "difference", "unexplained"):
            assert shown[f"headline.{prefix}.{col}"][0] == want[f"{prefix}.total.{col}"], (prefix, col)

    # the differences: real (the tiny data has a future bill, unitemized subtotals, credit, refunds,
    # ledger rows of other sources), each attributed to its quarantine reason with its amount
    fin = summary["finance"]
    for prefix, side in (("billed", fin["billed"]["total"]), ("received", fin["received"]["total"])):
        assert Decimal(side["difference"]) != 0
        assert {r: Decimal(a) for r, a in side["explained"].items()} == {
            r: a for (p, r), a in held.items() if p == prefix}, prefix
        assert shown[f"headline.{prefix}.explained"][0] == want[f"{prefix}.total.difference"]
    assert {"FUTURE_DATE", "ITEMS_TOTAL_MISMATCH"} <= set(fin["billed"]["total"]["explained"])
    assert {"NOT_A_PAYMENT", "NEGATIVE_AMOUNT", "ORPHAN_FK"} <= set(fin["received"]["total"]["explained"])
    assert 'class="n bad"' not in dom  # nothing unexplained, no money check violated

    # open credit and refunds: the legacy payment rows, as figures and listed by bill number
    assert (fin["open_credit"]["rows"], Decimal(fin["open_credit"]["amount"])) == (credit[0], credit[1]) and credit[0] > 0
    assert (fin["refunds"]["rows"], Decimal(fin["refunds"]["amount"])) == (refunds[0], refunds[1]) and refunds[1] < 0
    assert shown["open_credit.amount"][0] == credit[1] and shown["refunds.amount"][0] == refunds[1]
    listed = re.search(r'<table id="fin-credit-refunds".*?</table>', dom, re.S).group(0)
    assert listed.count("<tr>") == 1 + credit[0] + refunds[0]
    assert all(x["bill_no"] and x["bill_no"] in listed for x in fin["credit_and_refunds"])

    # the money checks: all five, recomputed, passed, with the run's verdict and its subjects
    assert {c["check"] for c in fin["checks"]} == MONEY_CHECKS
    for c in fin["checks"]:
        assert c["passed"] and c["this_run"] is True and c["violations"] == 0, c
        assert shown[f"check.{c['check']}.subjects"][0] == run_subjects[c["check"]] > 0
    assert shown["check.conservation_billed_per_patient.expected_total"][0] == want["billed.total.legacy_amount"]
    assert shown["check.conservation_paid_per_patient.expected_total"][0] == want["received.total.legacy_amount"]

    # the chart: three bars a month (legacy billed, invoiced, received), drawn inline
    months = {k.split(".")[2] for k in want if k.startswith(("billed.month.", "received.month."))} - {"none"}
    assert '<svg id="fin-chart"' in dom
    assert len(re.findall(r'<rect data-month="\d{4}-\d{2}"', dom)) == 3 * len(months) > 3

    # no PHI: no generated name or phone in the page, its JSON or the browser's DOM
    findings = scan_for_phi([index.parent], needles=needles) + scan_text(dom, "DOM", needles)
    assert findings == [], findings[:10]

    # A migrated amount changed behind the pipeline's back: an unexplained difference, failing checks.
    with psycopg.connect(fresh_db) as conn:
        invoice_id, bill_type = conn.execute(
            """select invoice_id, bill_type from billing.invoices where deleted_at is null and bill_type = 'OP'
               order by invoice_id limit 1""").fetchone()
        conn.execute("update billing.invoices set due_amount = due_amount + 100 where invoice_id = %s", (invoice_id,))
        conn.commit()
        tampered = write_run_report(conn, "tampered", [], reports, checks=checks, data_docs=False,
                                    hmac_secret=b"test-key")
    # the invoices changed since: the checks naming them are recomputed, not read
    assert {"due_per_invoice", "billed_per_patient"} <= set(recomputed), recomputed
    fin = json.loads((tampered.parent / "summary.json").read_text())["finance"]
    by_type = {e["key"]: e for e in fin["billed"]["bill_type"]}
    assert Decimal(by_type[bill_type]["unexplained"]) == Decimal(-100)
    assert Decimal(fin["billed"]["total"]["unexplained"]) == Decimal(-100)
    failed = {c["check"]: c for c in fin["checks"] if not c["passed"]}
    assert set(failed) == {"conservation_due_per_invoice", "conservation_billed_per_patient"}
    assert failed["conservation_due_per_invoice"]["violating_subjects"] == [str(invoice_id)]
    page = tampered.read_text()
    assert 'data-fin="headline.billed.unexplained" data-value="-100.00">-100.00</td>' in page
    assert "2 of 5 failed" in page


def _indian(v: Decimal) -> str:
    from hms_pipeline.quality.finance import inr

    return inr(v)
