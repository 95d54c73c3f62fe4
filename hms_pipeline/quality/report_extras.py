"""The reviewer's report, beyond the tables: a chart per phase, a trend across runs, and the
quarantine as a CSV a reviewer can act on (issue #16). Counts, reason codes, rule names and legacy
keys only; a legacy key that is not a surrogate id is a keyed hash (``h:…``, :func:`mask_key`).

The charts are inline SVG (no script, no network): the report opens from a file or from the
folder ``hms-pipeline dev`` serves.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from hms_pipeline.quality.phi import mask_key

QUARANTINE_CSV = "quarantine.csv"
# the detail keys that name a rule (never a value: amounts, texts and dates stay in the database)
_RULE_KEYS = ("rule", "constraint", "expectation", "column")
TREND_RUNS = 20
_COLOURS = {"legacy_rows_loaded": "#2da44e", "legacy_rows_merged": "#0969da", "legacy_rows_quarantined": "#cf222e"}
_LABELS = {"legacy_rows_loaded": "loaded", "legacy_rows_merged": "merged", "legacy_rows_quarantined": "quarantined"}


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


# --- the quarantine, as a CSV ------------------------------------------------------------------------


def write_quarantine_csv(conn: psycopg.Connection, folder: Path, *, key: bytes) -> tuple[Path, int]:
    """``folder/quarantine.csv``: one line per open quarantine entry (canonical table, legacy table,
    legacy key or its keyed hash, reason, the rule it broke, when first and last seen)."""
    path = Path(folder) / QUARANTINE_CSV
    rows = conn.execute(
        """select target_table, legacy_table, legacy_key, reason_code,
                  coalesce(detail->>'rule', detail->>'constraint', detail->>'expectation', ''),
                  coalesce(detail->>'column', ''),
                  to_char(first_seen_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                  to_char(last_seen_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
           from ops.quarantine where resolved_at is null
           order by target_table, reason_code, legacy_table, legacy_key""").fetchall()
    conn.rollback()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["canonical_table", "legacy_table", "legacy_key", "reason_code", "rule", "column",
                    "first_seen", "last_seen"])
        for target, legacy_table, legacy_key, reason, rule, column, first, last in rows:
            w.writerow([target, legacy_table, mask_key(legacy_table, legacy_key, key), reason,
                        _rule_name(rule), _rule_name(column), first, last])
    return path, len(rows)


def _rule_name(text: str) -> str:
    """A rule or column name as recorded (an identifier-like token); anything else is not shown."""
    text = (text or "").strip()
    ok = text and len(text) <= 80 and all(c.isalnum() or c in "_.-:/ ()<>=" for c in text)
    return text if ok else ""


# --- a chart per phase -----------------------------------------------------------------------------------


def phase_charts(summary: Mapping[str, Any]) -> str:
    """Per phase, one stacked bar per table: its legacy rows loaded / merged / quarantined, as shares
    of the rows seen, with the counts in the bar's title."""
    out = ["<h2 id='charts'>Legacy rows per table, by phase</h2><p class='muted'>"
           + " ".join(f"<span style='color:{c}'>&#9632;</span> {_LABELS[k]}" for k, c in _COLOURS.items())
           + " (share of the legacy rows seen)</p>"]
    for ph in summary.get("phases", []):
        members = [t for t in summary.get("tables", []) if t.get("phase") == ph["phase"] and t.get("legacy_rows_seen")]
        if not members:
            continue
        row_h, label_w, bar_w = 18, 190, 420
        svg = [f"<svg class='phase-chart' data-phase='{_e(ph['phase'])}' width='{label_w + bar_w + 90}' "
               f"height='{row_h * len(members) + 4}' role='img' aria-label='legacy rows of phase {_e(ph['phase'])}'>"]
        for i, t in enumerate(members):
            y = i * row_h + 2
            seen = t["legacy_rows_seen"]
            svg.append(f"<text x='0' y='{y + 12}' font-size='11'>{_e(t['table'])}</text>")
            x = label_w
            for k, colour in _COLOURS.items():
                w = round(bar_w * (t.get(k) or 0) / seen, 1)
                if w > 0:
                    svg.append(f"<rect x='{x}' y='{y}' width='{w}' height='{row_h - 4}' fill='{colour}'>"
                               f"<title>{_e(t['table'])}: {t.get(k)} {_LABELS[k]} of {seen}</title></rect>")
                    x += w
            svg.append(f"<text x='{label_w + bar_w + 6}' y='{y + 12}' font-size='11'>{seen}</text>")
        svg.append("</svg>")
        out.append(f"<h3>{_e(ph['phase'])}</h3>" + "".join(svg))
    return "\n".join(out)


# --- the trend across runs ----------------------------------------------------------------------------------


def trend_points(reports_dir: Path, summary: Mapping[str, Any], runs: int = TREND_RUNS) -> list[dict[str, Any]]:
    """This run and the earlier runs whose reports are in ``reports_dir`` (by time), at most ``runs``:
    run id, time and totals (legacy rows quarantined, canonical rows written)."""
    points = []
    for path in Path(reports_dir).glob("*/summary.json"):
        try:
            other = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if other.get("run_id") != summary.get("run_id") and other.get("tables"):
            points.append(_point(other))
    points.append(_point(summary))
    points.sort(key=lambda p: (p["at"], str(p["run_id"])))
    return points[-runs:]


def _point(s: Mapping[str, Any]) -> dict[str, Any]:
    tables = s.get("tables") or []
    return {"run_id": s.get("run_id"), "at": s.get("generated_at") or "",
            "legacy_rows_quarantined": sum(t.get("legacy_rows_quarantined", 0) or 0 for t in tables),
            "rows_written": sum(((t.get("this_run") or {}).get("rows_written") or 0) for t in tables)}


def trend_chart(points: Sequence[Mapping[str, Any]]) -> str:
    """Two small line charts over the runs: legacy rows quarantined, canonical rows written."""
    if len(points) < 2:
        return ("<h2 id='trend'>Trend across runs</h2><p class='muted'>One run so far: the trend starts with the "
                "next report in this folder.</p>")
    out = ["<h2 id='trend'>Trend across runs</h2>",
           f"<p class='muted'>The last {len(points)} runs whose reports are in this folder, oldest first.</p>"]
    for k, label in (("legacy_rows_quarantined", "legacy rows quarantined"), ("rows_written", "canonical rows written")):
        values = [p[k] for p in points]
        top = max(values) or 1
        w, h, step = 480, 80, 480 / (len(points) - 1)
        coords = " ".join(f"{round(i * step, 1)},{round(h - 4 - (h - 8) * v / top, 1)}" for i, v in enumerate(values))
        dots = "".join(f"<circle cx='{round(i * step, 1)}' cy='{round(h - 4 - (h - 8) * v / top, 1)}' r='3'>"
                       f"<title>run {_e(str(p['run_id'])[:8])} at {_e(p['at'])}: {v}</title></circle>"
                       for i, (p, v) in enumerate(zip(points, values)))
        out.append(f"<h3>{label} <span class='muted'>(now {values[-1]}, max {max(values)})</span></h3>"
                   f"<svg class='trend' data-figure='{k}' width='{w + 8}' height='{h}' role='img' aria-label='{label}'>"
                   f"<polyline points='{coords}' fill='none' stroke='#0969da' stroke-width='2'/>{dots}</svg>")
    return "\n".join(out)


def quarantine_section(summary: Mapping[str, Any]) -> str:
    """Per reason, the legacy rows quarantined for it over all tables, and the CSV to act on."""
    q = summary.get("quarantine") or {}
    if not q.get("entries"):
        return "<h2 id='quarantine'>Quarantine</h2><p>No open quarantine entries.</p>"
    by_reason: dict[str, int] = {}
    for t in summary.get("tables", []):
        for reason, n in (t.get("quarantined_by_reason") or {}).items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    rows = "".join(f"<tr><td><code>{_e(r)}</code></td><td class='n'>{n}</td></tr>" for r, n in sorted(by_reason.items()))
    return (f"<h2 id='quarantine'>Quarantine</h2><p>{q['entries']} open entries: "
            f"<a href='{_e(q['csv'])}' download>{_e(q['csv'])}</a> lists each with its canonical table, legacy "
            "table, legacy key (a keyed hash h:… unless a surrogate id), reason and rule, PHI-free.</p>"
            f"<table id='quarantine-reasons'><tr><th>reason</th><th>legacy rows</th></tr>{rows}</table>")


def spot_check_section(summary: Mapping[str, Any]) -> str:
    """The latest random spot check (``hms-pipeline cutover checklist``, hms_pipeline/compat/spotcheck.py):
    sampled legacy rows compared field by field with what the canonical tables answer for them; the
    fields that differ without a documented normalisation fail. Counts and table.column names only."""
    sc = summary.get("spot_check")
    head = "<h2 id='spot-checks'>Spot checks</h2>"
    if not sc:
        return (head + "<p class='muted'>No spot check recorded yet: <code>hms-pipeline cutover checklist</code> "
                "compares HMS_SPOT_CHECKS sampled legacy rows per table field by field with the canonical rows.</p>")
    failing = sc.get("unexplained_columns") or []
    verdict = "passed" if not sc.get("unexplained") else "failed"
    rows = "".join(f"<tr><td><code>{_e(c)}</code></td><td><span class='pill bad'>failed</span></td></tr>"
                   for c in failing)
    return (head + f"<p>Latest, at {_e(sc.get('at'))} (seed {_e(sc.get('seed'))}): {sc.get('rows_compared')} legacy rows "
            f"of {sc.get('tables')} tables, {sc.get('fields_compared')} fields compared; {sc.get('explained')} differ by "
            f"a documented normalisation, {sc.get('unexplained')} do not: "
            f"<span class='pill {'ok' if verdict == 'passed' else 'bad'}'>{verdict}</span></p>"
            + (f"<table id='spot-check-fields'><tr><th>field (table.column)</th><th>verdict</th></tr>{rows}</table>"
               if rows else "<p class='muted'>Every compared field passed.</p>"))

