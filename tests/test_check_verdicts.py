"""A check means one thing whenever it runs: on the same data a first full run and a no-change
re-run give the same verdict for every check of every table.

- a suite rule reading a table loaded after its own (``clinical.lab_order_items`` -> lab results,
  ``clinical.encounters`` -> admissions, ``inpatient.beds`` -> allocations, ...) runs in the
  ``expectations_late`` check, once that table is loaded;
- the ``warnings`` check counts the rows carrying each warning now, not the rows the run wrote, so
  a no-change run still reports the vitals' standing warnings, and a row deleted since stops counting.
"""

from __future__ import annotations

import dagster as dg
import psycopg
from backfill_helpers import failed_checks, materializations, prepare, run_backfill

from hms_pipeline.quality.checks import CHECK_NAME, LATE_CHECK_NAME, WARN_CHECK_NAME

VITALS = "clinical/vitals"


def verdicts(result) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(e.asset_key.to_user_string(), e.check_name): (e.passed, e.severity.value)
            for e in result.get_asset_check_evaluations()}


def standing(result, asset: str) -> dict[str, int]:
    e = next(e for e in result.get_asset_check_evaluations()
             if e.asset_key.to_user_string() == asset and e.check_name == "warnings")
    return {k: v.value for k, v in e.metadata.items() if isinstance(v.value, int)}


def test_a_first_run_and_a_no_change_rerun_give_the_same_verdicts(fresh_db, monkeypatch):
    prepare(fresh_db)
    first = run_backfill(monkeypatch, fresh_db, suites=True)
    assert first.success, failed_checks(first)
    again = run_backfill(monkeypatch, fresh_db, suites=True)
    assert again.success, failed_checks(again)

    v1, v2 = verdicts(first), verdicts(again)
    assert set(v1) == set(v2)
    assert {k: v for k, v in v1.items() if v != v2[k]} == {}, "verdicts changed on a no-change re-run"
    # nothing a suite reads changed, so every suite part keeps its outcome: a part run again costs
    # GX's import and its validation (the rules reading ops.legacy_id_map did, until their
    # fingerprint counted only the map partitions they name, not those of the tables loaded later)
    suites = (CHECK_NAME, WARN_CHECK_NAME, LATE_CHECK_NAME)
    run_again = sorted(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in again.get_asset_check_evaluations()
                       if e.check_name in suites and "reused_from_run" not in e.metadata)
    assert run_again == []
    names = {c for _, c in v1}
    assert {CHECK_NAME, WARN_CHECK_NAME, LATE_CHECK_NAME, "warnings", "reconciliation"} <= names
    # the late rules ran after the tables they read, so they saw them loaded
    assert ("clinical/lab_order_items", LATE_CHECK_NAME) in v1 and ("inpatient/beds", LATE_CHECK_NAME) in v1
    # "blocking" next to "failed" only when something blocked: the blocking check holds ERROR rules only
    for (asset, check), (passed, severity) in {**v1, **v2}.items():
        if check == CHECK_NAME:
            assert passed or severity == "ERROR", (asset, check)

    # the warnings check reports the standing state, not the rows the run wrote
    written = materializations(first)
    assert standing(first, VITALS) and all(n > 0 for n in standing(first, VITALS).values())
    for asset, figures in written.items():
        if len(asset.split("/")) == 2 and "warnings" in figures and asset.split("/")[0] != "etl":
            # a first run writes every row; the run's figure counts a code once per mention (a row
            # may name one code for two columns), the standing count once per row
            now = standing(first, asset)
            assert set(now) == set(figures["warnings"]), asset
            assert all(0 < now[k] <= figures["warnings"][k] for k in now), asset
    assert standing(first, VITALS) == written[VITALS]["warnings"]
    assert materializations(again)[VITALS]["warnings"] == {}  # nothing written again...
    assert standing(again, VITALS) == standing(first, VITALS)  # ...the rows still carry their warnings
    e = next(e for e in again.get_asset_check_evaluations()
             if e.asset_key.to_user_string() == VITALS and e.check_name == "warnings")
    assert not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    assert "since the last run" not in (e.description or "")
    assert e.metadata["change_since_last_run"].value == {}

    # a legacy row deleted since: its canonical row is soft-deleted (its map entry stays, history),
    # so it no longer counts, and the change since the last run says so
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        key, code = conn.execute(
            """select legacy_key, codes[1] from etl.row_warnings
               where canonical_table = 'clinical.medical_history' and legacy_table = 'medical_history'
               order by legacy_key limit 1""").fetchone()
        conn.execute("delete from medical_history where id::text = %s", (key,))
    later = run_backfill(monkeypatch, fresh_db, suites=True)
    assert later.success, failed_checks(later)
    history = "clinical/medical_history"
    assert standing(later, history).get(code, 0) == standing(again, history)[code] - 1
    e = next(e for e in later.get_asset_check_evaluations()
             if e.asset_key.to_user_string() == history and e.check_name == "warnings")
    assert e.metadata["change_since_last_run"].value[code] == -1
    assert "(-1 since the last run)" in e.description


def _rule(severity: str, query: str | None = None) -> dict:
    if query is None:
        return {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "encounter_id"},
                "meta": {"severity": severity, "why": "test"}}
    return {"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query},
            "meta": {"severity": severity, "why": "test", "name": "test rule"}}


def test_rules_reading_a_later_table_are_found_from_the_graph_and_still_gate(tmp_path):
    """Found generically: a rule naming a canonical table that is not upstream of its own goes to
    ``expectations_late`` (depending on that table); one naming an upstream table stays. A late
    ERROR rule cannot block (its table's downstream already ran) but still closes the phase gates."""
    import json

    from hms_pipeline.lib.factory import suite_definitions
    from hms_pipeline.quality.gates import blocking_check_keys
    from hms_pipeline.resources import HmsDatabaseResource

    later_rule = ("select b.encounter_id from {batch} b left join inpatient.admissions a "
                  "on a.encounter_id = b.encounter_id where a.admission_id is null")
    earlier_rule = ("select b.admission_id from {batch} b left join clinical.encounters e "
                    "on e.encounter_id = b.encounter_id where e.encounter_id is null")
    suites = {"clinical/encounters": [_rule("ERROR"), _rule("WARN"), _rule("ERROR", later_rule)],
              "inpatient/admissions": [_rule("ERROR"), _rule("WARN", earlier_rule)]}
    for path, rules in suites.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{path}.json").write_text(
            json.dumps({"name": path.replace("/", "."), "expectations": rules}))

    @dg.asset(key=["clinical", "encounters"])
    def encounters():
        return None

    @dg.asset(key=["inpatient", "admissions"], deps=[encounters])
    def admissions():
        return None

    assets = dg.Definitions(assets=[encounters, admissions])
    resources = dg.Definitions(resources={"hms_db": HmsDatabaseResource()})
    graph = dg.Definitions.merge(resources,
                                 suite_definitions(assets, expectations_root=tmp_path)).resolve_asset_graph()
    specs = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert {k: s.blocking for k, s in specs.items()} == {
        ("clinical/encounters", CHECK_NAME): True, ("clinical/encounters", WARN_CHECK_NAME): False,
        ("clinical/encounters", LATE_CHECK_NAME): False,
        ("inpatient/admissions", CHECK_NAME): True, ("inpatient/admissions", WARN_CHECK_NAME): False}
    late = specs[("clinical/encounters", LATE_CHECK_NAME)]
    assert [d.asset_key for d in late.additional_deps] == [admissions.key]
    gating = {(k.asset_key.to_user_string(), k.name)
              for k in blocking_check_keys(graph, graph.materializable_asset_keys)}
    assert ("clinical/encounters", LATE_CHECK_NAME) in gating
    assert ("clinical/encounters", WARN_CHECK_NAME) not in gating
