"""The finance section of the validation report (issue #12), written for a finance lead.

What it shows, all computed in SQL (``sql/report/finance_*.sql``, bound parameters only) from the
database as the run left it:

- billed: the legacy bill headers (read from the staged legacy rows by ``etl.billing_headers``, not
  from the canonical tables) beside the canonical ``billing.invoices``, by bill type, by month and in
  total; received: the legacy payment rows (``etl.billing_payment_rows``, copies excluded) beside
  ``billing.payments``, by method, by month and in total;
- each difference attributed to the quarantine reasons that hold its money (``ops.quarantine``,
  ``detail.amount``), and what no reason explains (the unexplained rest, 0 when the money is
  conserved);
- the open credit (``NOT_A_PAYMENT``: amounts put on account) and the refunds (``NEGATIVE_AMOUNT``),
  as figures and listed by bill number;
- the money conservation checks (``sql/billing/*.checks/*.sql``, the blocking ERROR checks of the
  billing assets), recomputed now, beside the run's own verdict;
- one inline SVG chart (billed vs received by month), drawn here, no script.

PHI: amounts, counts, bill numbers, bill types, methods, reason codes and months or days only;
never a name, phone, address or free text. A violating subject of a money check is shown when it
is a surrogate (uuid, integer) or one of the checks' own tokens, else as a keyed hash
(:func:`hms_pipeline.quality.phi.mask_key`).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from hms_pipeline.paths import SQL_DIR
from hms_pipeline.quality.phi import is_surrogate_key, mask_key, scrub_message
from hms_pipeline.sqlrun import read_sql

log = logging.getLogger(__name__)

REPORT_SQL = SQL_DIR / "report"
CHECKS_SCHEMA = "billing"
MAX_LISTED = 50  # credit / refund rows listed by bill number (the totals cover all)

# What each quarantine reason means for the money, in a finance lead's words.
REASONS: dict[str, str] = {
    "FUTURE_DATE": "bill dated after the legacy data's last activity: held back whole, with its payments",
    "ITEMS_TOTAL_MISMATCH": "header subtotal its lines do not add up to: the unitemized part is held",
    "UNAPPLIED_DISCOUNT": "a discount larger than the bill's loaded charges and tax: the part not applied is held "
                          "(a negative amount), the invoice is due 0",
    "NEGATIVE_AMOUNT": "a negative amount: a refund written as a negative payment (or a negative bill / line)",
    "NOT_A_PAYMENT": "'credit': an amount put on the patient's account, a receivable, not money received",
    "ORPHAN_FK": "names a bill or patient that is not in the legacy data (payments of other sources)",
    "ZERO_AMOUNT": "a payment of 0",
    "ZERO_QTY": "a bill line with quantity 0 or less",
    "MISSING_VALUE": "no amount",
    "OUT_OF_RANGE": "an amount too large or with fractions of a paisa",
    "DUPLICATE": "a copy of a row already counted once: not counted again",
}


def _file(name: str) -> Path:
    return REPORT_SQL / f"{name}.sql"


def _d(v: Any) -> Decimal:
    return Decimal(0) if v is None else Decimal(v)


def applies(conn: psycopg.Connection, tables: Iterable[str]) -> bool:
    """The run touched a billing table and the billing helpers and staged legacy rows exist."""
    if not any(t.startswith(CHECKS_SCHEMA + ".") for t in tables):
        return False
    ok = conn.execute("""select to_regclass('billing.invoices') is not null and to_regclass('stg.billing') is not null
                                and to_regprocedure('etl.billing_headers()') is not null""").fetchone()[0]
    conn.rollback()
    return bool(ok)


# --- figures -----------------------------------------------------------------------------------------------


def _side_by_side(rows: Sequence[tuple], dims: tuple[str, str], extra: tuple[str, ...]) -> dict[str, Any]:
    """Rows of finance_billed/finance_paid.sql -> {dim: [entry]} and 'total'. Each entry: key, legacy
    count/amount, canonical count/amount (+ extra), difference, explained by reason, unexplained."""
    entries: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        dim, key, reason, lc, la, cc, ca, *rest = row
        *extras, er, ea = rest
        e = entries.setdefault((dim, key), {
            "key": key, "legacy_count": 0, "legacy_amount": Decimal(0), "canonical_count": 0,
            "canonical_amount": Decimal(0), **{x: Decimal(0) for x in extra}, "explained": {},
            "explained_rows": 0})
        if reason is None:
            e["legacy_count"] += lc
            e["legacy_amount"] += _d(la)
            e["canonical_count"] += cc
            e["canonical_amount"] += _d(ca)
            for name, v in zip(extra, extras):
                e[name] += _d(v)
        else:
            e["explained"][reason] = e["explained"].get(reason, Decimal(0)) + _d(ea)
            e["explained_rows"] += er
    out: dict[str, Any] = {d: [] for d in dims}
    out["total"] = None
    for (dim, _key), e in sorted(entries.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "")):
        e["difference"] = e["legacy_amount"] - e["canonical_amount"]
        e["explained_amount"] = sum(e["explained"].values(), Decimal(0))
        e["unexplained"] = e["difference"] - e["explained_amount"]
        if dim == "total":
            out["total"] = e
        else:
            out[dim].append(e)
    if out["total"] is None:
        out["total"] = {"key": None, "legacy_count": 0, "legacy_amount": Decimal(0), "canonical_count": 0,
                        "canonical_amount": Decimal(0), **{x: Decimal(0) for x in extra}, "explained": {},
                        "explained_rows": 0, "difference": Decimal(0), "explained_amount": Decimal(0),
                        "unexplained": Decimal(0)}
    return out


_TOKEN_RE = re.compile(r"^\*?[a-z_]{1,40}$")  # '*walk_in', '*no_bill', a legacy table name


def _safe_subject(subject: str, key: bytes) -> str:
    """A money check's subject as the report may show it: surrogate ids and the checks' own tokens
    as they are; 'legacy:<id>' keeps its prefix; anything else becomes a keyed hash."""
    if is_surrogate_key(subject) or _TOKEN_RE.match(subject or ""):
        return subject
    if subject.startswith("legacy:"):
        return "legacy:" + mask_key("patients", subject[len("legacy:"):], key)
    return mask_key("billing", subject, key)


def _first_sentence(text: str) -> str:
    m = re.search(r"^(.*?[.:])(\s|$)", text)
    return (m.group(1) if m else text)[:240].rstrip(":")


def money_checks(conn: psycopg.Connection, run_checks: Sequence[Any], key: bytes) -> list[dict[str, Any]]:
    """The billing tables' conservation checks as they stand now, with the run's verdict beside them.
    A check whose relations have not changed since it was last evaluated (its fingerprint, as the
    engine's reuse on an idle run) is read from its stored result instead of being recomputed
    (about 20 s at 100k patients, on every report)."""
    from hms_pipeline.engine import conservation

    verdicts = {(c.table, c.check): c.passed for c in run_checks}
    out = []
    for path in sorted((SQL_DIR / CHECKS_SCHEMA).glob("*.checks/*.sql")):
        table = f"{CHECKS_SCHEMA}.{path.parent.name.removesuffix('.checks')}"
        r = (conservation.stored_result(conn, table, path, conservation.fingerprint(conn, path))
             or conservation.run_check(conn, path))
        out.append({
            "table": table, "check": r.name, "what": _first_sentence(conservation.description(path)),
            # the figures of a check that counts rows (bill_rows_accounted) are row counts, not money
            "unit": "rows" if "_rows_" in f"_{path.stem}_" else "INR",
            "subjects": r.subjects, "violations": r.violations, "expected_total": r.expected_total,
            "actual_total": r.actual_total, "passed": r.ok,
            "this_run": verdicts.get((table, r.name)),
            "violating_subjects": [_safe_subject(s, key) for s in r.sample],
        })
    return out


def finance_figures(conn: psycopg.Connection, *, facility_timezone: str, key: bytes,
                    run_checks: Sequence[Any] = (), max_rows: int = MAX_LISTED) -> dict[str, Any]:
    """The finance section's figures (JSON-ready but for Decimals). On a database error the section
    carries ``error`` (scrubbed) instead: the rest of the report does not depend on it."""
    params = {"facility_tz": facility_timezone}
    fin: dict[str, Any] = {"currency": "INR", "timezone": facility_timezone, "error": None}
    try:
        billed = conn.execute(read_sql(_file("finance_billed")), params).fetchall()
        fin["billed"] = _side_by_side(billed, ("bill_type", "month"), ("received", "outstanding"))
        paid = conn.execute(read_sql(_file("finance_paid")), params).fetchall()
        fin["received"] = _side_by_side(paid, ("method", "month"), ())
        fin["quarantine"] = [
            {"target_table": t, "legacy_table": lt, "reason": r, "rows": n, "rows_with_amount": na,
             "amount": a, "meaning": REASONS.get(r, "")}
            for t, lt, r, n, na, a in conn.execute(read_sql(_file("finance_reasons"))).fetchall()]
        for name, reason in (("open_credit", "NOT_A_PAYMENT"), ("refunds", "NEGATIVE_AMOUNT")):
            rows = [q for q in fin["quarantine"] if q["reason"] == reason and q["amount"] is not None]
            fin[name] = {"reason": reason, "rows": sum(q["rows_with_amount"] for q in rows),
                         "amount": sum((q["amount"] for q in rows), Decimal(0))}
        fin["credit_and_refunds"] = [
            {"reason": r, "target_table": t, "legacy_table": lt, "bill_no": no, "bill_type": bt, "day": day,
             "amount": a}
            for r, t, lt, no, bt, day, a in conn.execute(
                read_sql(_file("finance_credit_refunds")), {**params, "max_rows": max_rows}).fetchall()]
        fin["checks"] = money_checks(conn, run_checks, key)
    except Exception as exc:  # the rest of the report does not depend on this section
        log.warning("finance section not computed: %s", type(exc).__name__)
        fin = {"currency": "INR", "timezone": facility_timezone,
               "error": f"{type(exc).__name__}: {scrub_message(str(exc))}"}
    finally:
        conn.rollback()
    return fin


# --- rendering -----------------------------------------------------------------------------------------------


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def inr(v: Any, *, decimals: int = 2) -> str:
    """An amount in the Indian grouping: 2,76,969.75 (a minus sign when negative)."""
    d = _d(v)
    if not d.is_finite():  # a NaN / Infinity a legacy numeric column may hold
        return str(d)
    q = Decimal(1).scaleb(-decimals)
    text = f"{abs(d).quantize(q):.{decimals}f}"
    whole, _, frac = text.partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        whole = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
    return ("-" if d < 0 else "") + whole + ("." + frac if frac else "")


def _month_label(key: str | None, fmt: str = "%b %Y") -> str:
    """'2025-08' -> 'Aug 2025'; a month outside years 1-9999 (a legacy date like 20260-01-01) as is."""
    if not key:
        return "no date"
    m = re.fullmatch(r"(\d{4})-(\d{2})", key)
    if m and 1 <= int(m[1]) <= 9999 and 1 <= int(m[2]) <= 12:
        return dt.date(int(m[1]), int(m[2]), 1).strftime(fmt)
    return key


def _cell(fid: str, v: Any, *, money: bool = True, cls: str = "") -> str:
    raw = _d(v) if money else v
    shown = inr(raw) if money else raw
    return f'<td class="n {cls}" data-fin="{_e(fid)}" data-value="{_e(raw)}">{_e(shown)}</td>'


def _explained(e: Mapping[str, Any]) -> str:
    if not e["explained"]:
        return "—"
    return "<br>".join(f"<code title='{_e(REASONS.get(r, ''))}'>{_e(r)}</code> {_e(inr(a))}"
                       for r, a in sorted(e["explained"].items()))


def _side_table(tid: str, prefix: str, entries: Sequence[Mapping[str, Any]], total: Mapping[str, Any], *,
                first: str, labels: tuple[str, str, str, str], extra: Sequence[tuple[str, str]] = (),
                label=lambda k: k or "(none)") -> str:
    head = (f"<table id='{tid}' class='fin'><tr><th>{_e(first)}</th><th>{_e(labels[0])}</th><th>{_e(labels[1])}</th>"
            f"<th>{_e(labels[2])}</th><th>{_e(labels[3])}</th>"
            + "".join(f"<th>{_e(h)}</th>" for _, h in extra)
            + "<th>difference<br><span class='muted'>legacy - migrated</span></th>"
              "<th>explained by quarantine reason</th><th>unexplained</th></tr>")
    out = [head]
    for e in [*entries, total]:
        is_total = e is total
        k = "total" if is_total else (e["key"] or "none")
        fid = f"{prefix}.{k}"
        bad = "bad" if e["unexplained"] != 0 else ""
        out.append(
            f"<tr data-key='{_e(k)}'{' class=total' if is_total else ''}><td>{'<b>total</b>' if is_total else _e(label(e['key']))}</td>"
            + _cell(f"{fid}.legacy_count", e["legacy_count"], money=False)
            + _cell(f"{fid}.legacy_amount", e["legacy_amount"])
            + _cell(f"{fid}.canonical_count", e["canonical_count"], money=False)
            + _cell(f"{fid}.canonical_amount", e["canonical_amount"])
            + "".join(_cell(f"{fid}.{name}", e[name]) for name, _ in extra)
            + _cell(f"{fid}.difference", e["difference"])
            + f"<td>{_explained(e)}</td>"
            + _cell(f"{fid}.unexplained", e["unexplained"], cls=bad)
            + "</tr>")
    out.append("</table>")
    return "".join(out)


def chart_svg(billed_by_month: Sequence[Mapping[str, Any]], received_by_month: Sequence[Mapping[str, Any]]) -> str:
    """Grouped bars per month: legacy billed, migrated (invoiced), received (payments); inline SVG."""
    series = [("legacy billed", "#9aa5b1", {e["key"]: e["legacy_amount"] for e in billed_by_month}),
              ("invoiced (migrated)", "#2f6fb0", {e["key"]: e["canonical_amount"] for e in billed_by_month}),
              ("received (migrated)", "#2e8540", {e["key"]: e["canonical_amount"] for e in received_by_month})]
    months = sorted({k for _, _, values in series for k in values if k})
    if not months:
        return ""
    top = max((_d(v) for _, _, values in series for v in values.values() if _d(v).is_finite() and _d(v) > 0),
              default=Decimal(0))
    step = _nice_step(float(top) / 4 if top > 0 else 1.0)
    ymax = step * 4
    bar, gap, left, right, plot_h, plot_top, bottom = 9, 12, 78, 12, 200, 34, 52
    group = bar * len(series) + gap
    width = left + group * len(months) + right
    height = plot_top + plot_h + bottom

    def y(v: float) -> float:
        return plot_top + plot_h - (max(v, 0.0) / ymax) * plot_h

    out = [f"<svg id='fin-chart' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' role='img' aria-label='Billed and received by month'>"
           "<title>Billed and received by month (INR)</title>"
           "<style>text{font:11px system-ui,sans-serif;fill:#1d232a} .ax{stroke:#d5dbe1}</style>"]
    x = left
    for name, color, _ in series:  # legend
        out.append(f"<rect x='{x}' y='8' width='10' height='10' fill='{color}'/>"
                   f"<text x='{x + 14}' y='17'>{_e(name)}</text>")
        x += 14 + 7 * len(name) + 18
    for i in range(5):  # y grid and labels
        v = step * i
        yy = y(v)
        out.append(f"<line class='ax' x1='{left - 4}' x2='{width - right}' y1='{yy:.1f}' y2='{yy:.1f}'/>"
                   f"<text x='{left - 8}' y='{yy + 4:.1f}' text-anchor='end'>{_e(inr(v, decimals=0))}</text>")
    for m_i, month in enumerate(months):
        gx = left + m_i * group + gap / 2
        for s_i, (name, color, values) in enumerate(series):
            v = float(_d(values.get(month))) if _d(values.get(month)).is_finite() else 0.0
            yy = y(v)
            out.append(f"<rect data-month='{_e(month)}' data-series='{s_i}' x='{gx + s_i * bar:.1f}' y='{yy:.1f}' "
                       f"width='{bar - 1}' height='{plot_top + plot_h - yy:.1f}' fill='{color}'>"
                       f"<title>{_e(_month_label(month))}, {_e(name)}: {_e(inr(values.get(month)))}</title></rect>")
        lx = gx + bar * len(series) / 2
        out.append(f"<text x='{lx:.1f}' y='{plot_top + plot_h + 12}' text-anchor='end' "
                   f"transform='rotate(-45 {lx:.1f} {plot_top + plot_h + 12})'>"
                   f"{_e(_month_label(month, '%b %y'))}</text>")
    out.append("</svg>")
    return "".join(out)


def _nice_step(raw: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least ``raw``."""
    import math

    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def render_finance(fin: Mapping[str, Any] | None) -> str:
    """The section's HTML ('' without figures); a rendering failure becomes a note, never a lost report."""
    if not fin:
        return ""
    try:
        return _render(fin)
    except Exception as exc:
        log.warning("finance section not rendered: %s", type(exc).__name__)
        return f"<h2 id='finance'>Finance</h2><p class='bad'>Finance section not rendered ({_e(type(exc).__name__)})</p>"


def _render(fin: Mapping[str, Any]) -> str:
    out = ["<h2 id='finance'>Finance</h2>"]
    if fin.get("error"):
        out.append(f"<p class='bad'>Finance figures could not be computed: {_e(fin['error'])}</p>")
        return "\n".join(out)
    b, r = fin["billed"]["total"], fin["received"]["total"]
    checks = fin["checks"]
    failed = [c for c in checks if not c["passed"]]
    out.append(
        f"<p class='muted'>Amounts in {_e(fin['currency'])}. <b>Legacy</b>: what the legacy system's bills and payment "
        "rows say, read from the extracted legacy rows (a bill's amount is its subtotal - discount + tax; copies of "
        "payment rows counted once). <b>Migrated</b>: the new system's invoices (billing.invoices) and payments "
        f"(billing.payments). Months are calendar months in {_e(fin['timezone'])}; a bill's month is the month it "
        "was issued (a draft: created). Every difference is money the migration held back in quarantine, by reason; "
        "<b>unexplained</b> must be 0.</p>")

    # at a glance
    out.append("<table id='fin-headline' class='fin'><tr><th></th><th>legacy</th><th>migrated</th>"
               "<th>difference</th><th>explained by quarantine</th><th>unexplained</th></tr>")
    for label, prefix, e in (("Billed", "billed", b), ("Received", "received", r)):
        bad = "bad" if e["unexplained"] != 0 else "ok"
        out.append(f"<tr data-key='{prefix}'><th>{label} <span class='muted'>({e['legacy_count']} legacy rows / "
                   f"{e['canonical_count']} migrated)</span></th>"
                   + _cell(f"headline.{prefix}.legacy_amount", e["legacy_amount"])
                   + _cell(f"headline.{prefix}.canonical_amount", e["canonical_amount"])
                   + _cell(f"headline.{prefix}.difference", e["difference"])
                   + _cell(f"headline.{prefix}.explained", e["explained_amount"])
                   + _cell(f"headline.{prefix}.unexplained", e["unexplained"], cls=bad) + "</tr>")
    out.append("</table>")
    credit, refunds = fin["open_credit"], fin["refunds"]
    verdict = (f"<span class='pill bad'>{len(failed)} of {len(checks)} failed</span>" if failed
               else f"<span class='pill ok'>all {len(checks)} passed</span>")
    out.append(
        "<ul id='fin-figures'>"
        f"<li>Open credit (put on account, <code>NOT_A_PAYMENT</code>): <b data-fin='open_credit.amount' "
        f"data-value='{_e(credit['amount'])}'>{_e(inr(credit['amount']))}</b> in "
        f"<span data-fin='open_credit.rows'>{credit['rows']}</span> payment rows (not counted as received)</li>"
        f"<li>Refunds (negative amounts, <code>NEGATIVE_AMOUNT</code>): <b data-fin='refunds.amount' "
        f"data-value='{_e(refunds['amount'])}'>{_e(inr(refunds['amount']))}</b> in "
        f"<span data-fin='refunds.rows'>{refunds['rows']}</span> rows (not counted as received)</li>"
        f"<li>Outstanding on issued invoices (invoiced - received): <b data-fin='outstanding' "
        f"data-value='{_e(b['outstanding'])}'>{_e(inr(b['outstanding']))}</b></li>"
        f"<li>Money checks (blocking, ERROR): {verdict}</li></ul>")

    # money checks
    out.append("<h3>Money checks</h3><table id='fin-checks' class='fin'><tr><th>check</th><th>what it holds</th>"
               "<th>subjects</th><th>violating</th><th>expected total</th><th>actual total</th><th>now</th>"
               "<th>in this run</th></tr>")
    for c in checks:
        run = {True: "<span class='pill ok'>passed</span>", False: "<span class='pill bad'>failed</span>",
               None: "<span class='pill muted'>not run</span>"}[c["this_run"]]
        now = "<span class='pill ok'>passed</span>" if c["passed"] else "<span class='pill bad'>failed</span>"
        sample = (f"<br><span class='muted'>first violating: {_e(', '.join(c['violating_subjects']))}</span>"
                  if c["violating_subjects"] else "")
        fid = f"check.{c['check']}"
        out.append(f"<tr data-key='{_e(c['check'])}'><td><code>{_e(c['table'])}</code><br>{_e(c['check'])}</td>"
                   f"<td class='muted'>{_e(c['what'])}</td>"
                   + _cell(f"{fid}.subjects", c["subjects"], money=False)
                   + _cell(f"{fid}.violations", c["violations"], money=False, cls="bad" if c["violations"] else "")
                   + _cell(f"{fid}.expected_total", c["expected_total"], money=c["unit"] != "rows")
                   + _cell(f"{fid}.actual_total", c["actual_total"], money=c["unit"] != "rows")
                   + f"<td>{now}{sample}</td><td>{run}</td></tr>")
    out.append("</table>")

    # chart
    svg = chart_svg(fin["billed"]["month"], fin["received"]["month"])
    if svg:
        out.append("<h3>Billed and received by month</h3>" + svg +
                   "<p class='muted'>Hover a bar for its amount. Negative monthly totals are drawn as 0; the tables "
                   "below hold every figure.</p>")

    out.append("<h3>Billed, by bill type</h3>")
    out.append(_side_table("fin-billed-type", "billed.bill_type", fin["billed"]["bill_type"], b, first="bill type",
                           labels=("legacy bills", "legacy billed", "invoices", "invoiced"),
                           extra=(("received", "received on them"),)))
    out.append("<h3>Billed, by month</h3>")
    out.append(_side_table("fin-billed-month", "billed.month", fin["billed"]["month"], b, first="month",
                           labels=("legacy bills", "legacy billed", "invoices", "invoiced"),
                           extra=(("received", "received on them"),), label=_month_label))
    out.append("<h3>Received, by payment method</h3>")
    out.append(_side_table("fin-received-method", "received.method", fin["received"]["method"], r, first="method",
                           labels=("legacy rows", "legacy amount", "payments", "received")))
    out.append("<h3>Received, by month</h3>")
    out.append(_side_table("fin-received-month", "received.month", fin["received"]["month"], r, first="month",
                           labels=("legacy rows", "legacy amount", "payments", "received"), label=_month_label))

    # reasons
    out.append("<h3>Money held in quarantine, by reason</h3><table id='fin-reasons' class='fin'><tr><th>headed for</th>"
               "<th>legacy table</th><th>reason</th><th>what it means</th><th>rows</th><th>amount</th></tr>")
    for q in fin["quarantine"]:
        amount = (_cell(f"reason.{q['target_table']}.{q['legacy_table']}.{q['reason']}", q["amount"])
                  if q["amount"] is not None else "<td class='muted'>counted elsewhere</td>")
        out.append(f"<tr><td><code>{_e(q['target_table'])}</code></td><td>{_e(q['legacy_table'])}</td>"
                   f"<td><code>{_e(q['reason'])}</code></td><td class='muted'>{_e(q['meaning'])}</td>"
                   f"<td class='n'>{q['rows']}</td>{amount}</tr>")
    out.append("</table><p class='muted'>Rows without an amount are counted elsewhere: a line of a bill held back "
               "whole is in the bill's amount, a copy in the row it copies, an invoice line in its charge.</p>")

    # credit and refunds, by bill number
    listed = fin["credit_and_refunds"]
    out.append("<h3>Open credit and refunds, by bill</h3>")
    if listed:
        kinds = {"NOT_A_PAYMENT": "open credit", "NEGATIVE_AMOUNT": "refund"}
        heads = {"billing.payments": "payment", "billing.invoices": "bill", "billing.charges": "bill line"}
        out.append("<table id='fin-credit-refunds' class='fin'><tr><th>kind</th><th>bill no.</th><th>bill type</th>"
                   "<th>day</th><th>row</th><th>amount</th></tr>")
        for x in listed:
            out.append(f"<tr><td>{_e(kinds.get(x['reason'], x['reason']))}</td><td>{_e(x['bill_no'] or '—')}</td>"
                       f"<td>{_e(x['bill_type'] or '—')}</td><td>{_e(x['day'] or '—')}</td>"
                       f"<td>{_e(heads.get(x['target_table'], x['target_table']))} ({_e(x['legacy_table'])})</td>"
                       f"<td class='n'>{_e(inr(x['amount']))}</td></tr>")
        out.append("</table>")
        shown = len(listed)
        total = credit["rows"] + refunds["rows"]
        if total > shown:
            out.append(f"<p class='muted'>first {shown} of {total} rows; the figures above cover all.</p>")
    else:
        out.append("<p class='muted'>none</p>")
    return "\n".join(out)


__all__ = ["MAX_LISTED", "REASONS", "applies", "chart_svg", "finance_figures", "inr", "money_checks",
           "render_finance"]
