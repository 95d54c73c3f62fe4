"""One vocabulary of figures (issue #16, README "Figures"): one run's figures read from the asset
metadata, the report's summary.json and the CLI summary are the same numbers under the same names,
and they add up (every legacy row seen is loaded, merged or quarantined)."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from backfill_helpers import prepare

from hms_pipeline import cli
from hms_pipeline.db import database_name

LEGACY = ("legacy_rows_seen", "legacy_rows_loaded", "legacy_rows_merged", "legacy_rows_quarantined")
HEADINGS = {"seen": "legacy_rows_seen", "loaded": "legacy_rows_loaded", "merged": "legacy_rows_merged",
            "quarantined": "legacy_rows_quarantined", "written": "rows_written", "unchanged": "rows_unchanged"}


def _cli_table(out: str) -> dict[str, dict[str, int]]:
    """The CLI summary's rows: asset -> figure name -> value (by the header's headings)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("asset "))
    names = [HEADINGS.get(h, h) for h in lines[head].split()[1:]]
    rows = {}
    for line in lines[head + 2:]:
        cells = line.split()
        if not cells or "/" not in cells[0] or len(cells) != len(names) + 1:
            if line.startswith(("run ", "WARN", "CHECK", "STEP")):
                break
            continue
        rows[cells[0]] = {n: int(float(v)) for n, v in zip(names, cells[1:]) if n != "seconds"}
    return rows


def _metadata(instance, run_id: str) -> dict[str, dict[str, int]]:
    import dagster as dg

    out = {}
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.dagster_event.step_materialization_data.materialization
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        if "legacy_rows_seen" in meta:
            out[mat.asset_key.to_user_string()] = meta
    return out


def test_metadata_report_and_cli_give_the_same_figures(fresh_db, pg_server_url, monkeypatch, capsys, tmp_path):
    dagster_db = database_name(fresh_db) + "_dg"
    for k, v in {"HMS_DATABASE_URL": fresh_db, "HMS_HOME": str(tmp_path / "hms"), "HMS_DAGSTER_DATABASE": dagster_db,
                 "HMS_REPORTS_DIR": str(tmp_path / "reports")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    prepare(fresh_db)
    try:
        for attempt in ("first", "no-change"):
            capsys.readouterr()
            assert cli.main(["run", "--phase", "backfill"]) == 0, attempt
            out = capsys.readouterr().out
            run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("run "))
            shown = _cli_table(out)

            from hms_pipeline.instance import get_instance
            from hms_pipeline.settings import load_settings

            meta = _metadata(get_instance(load_settings()), run_id)
            summary = json.loads((tmp_path / "reports" / run_id / "summary.json").read_text())
            report = {t["table"].replace(".", "/"): t for t in summary["tables"]}

            assert len(meta) >= 30 and set(meta) == set(shown), attempt
            for asset, m in meta.items():
                r = report[asset]
                for name in LEGACY:
                    assert m[name] == shown[asset][name] == r[name], (attempt, asset, name)
                assert m["values_quarantined"] == r["values_quarantined"], (attempt, asset)
                for name in ("rows_written", "rows_unchanged"):
                    assert m[name] == shown[asset][name] == r["this_run"][name], (attempt, asset, name)
                for name in ("rows_new", "rows_changed", "rows_soft_deleted"):
                    assert m[name] == r["this_run"][name], (attempt, asset, name)
                # and they add up: every legacy row seen is accounted for once
                assert m["legacy_rows_seen"] == sum(m[n] for n in LEGACY[1:]), (attempt, asset)
                assert m["rows_written"] == m["rows_new"] + m["rows_changed"], (attempt, asset)
            if attempt == "first":
                assert sum(m["rows_new"] for m in meta.values()) > 0
                assert any(m["legacy_rows_quarantined"] for m in meta.values())
                assert any(m["legacy_rows_merged"] for m in meta.values())
            else:
                assert all(m["rows_written"] == 0 for m in meta.values())
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dagster_db)))
