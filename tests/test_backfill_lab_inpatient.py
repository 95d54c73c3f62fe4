"""Backfill of the lab tables (the lab_reports split into orders, items and results) and of the
inpatient tables (wards, beds, admissions, bed allocations).

* Generated tiny data, both profiles: every asset materializes with reconciliation holding, the
  split invariants hold, quarantine / warnings / analytes per report equal the generator's ground
  truth, and a second run writes nothing.
* Hand-made edge cases on top of it (transfer chains, overlapping stays, orphan headers, odd results
  JSON, lab_result_value merges, a report without encounter before it), then legacy changes: the
  incremental run must equal a full one.
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from backfill_helpers import failed_checks, materializations, prepare, run_backfill

LAB_TABLES = ("clinical.lab_tests", "clinical.lab_orders", "clinical.lab_order_items", "clinical.lab_results")
INPATIENT_TABLES = ("inpatient.wards", "inpatient.beds", "inpatient.admissions", "inpatient.bed_allocations")
MINE = LAB_TABLES + INPATIENT_TABLES
MY_ASSETS = {t.replace(".", "/") for t in MINE}
OWN_LEGACY = ["lab_tests", "lab_reports", "lab_result_value", "beds", "bed_allocations", "patient_admissions"]

# The order in which the transforms name a row's warnings (detail.warn, the one counted, is the
# first that applies), and the legacy tables whose truth defects each asset warns about.
WARN_ORDER = {
    "clinical/lab_results": ("UNPARSEABLE_VALUE", "MISSING_UNIT"),
    "inpatient/bed_allocations": ("FORMAT_VARIANT", "UNKNOWN_STATUS", "NAIVE_TIMESTAMP"),
    "inpatient/admissions": ("ORPHAN_HEADER",),
}
WARN_TABLES = {
    "clinical/lab_results": ["lab_reports", "lab_result_value"],
    "inpatient/bed_allocations": ["bed_allocations"],
    "inpatient/admissions": ["patient_admissions"],
}


def _run(monkeypatch, url, *, full=False) -> dict[str, dict]:
    # the backfill phase reduced to these tables and what they need upstream (no GX suites)
    result = run_backfill(monkeypatch, url, full=full, targets=MINE, suites=False)
    errors = [e.event_specific_data.error.message[:500] for e in result.get_step_failure_events()]
    assert result.success, errors
    assert not failed_checks(result), failed_checks(result)
    mats = materializations(result)
    assert MY_ASSETS <= set(mats), MY_ASSETS - set(mats)
    return {k: v for k, v in mats.items() if k in MY_ASSETS}


def _rows(conn, query, *params):
    return conn.execute(query, params).fetchall()


def _one(conn, query, *params):
    return conn.execute(query, params).fetchone()


# --- invariants that hold on any legacy data ---------------------------------------------------

SPLIT_COUNTS = """
with names as (
    select r._key,
           coalesce(nullif(regexp_replace(lower(e.value ->> 'parameter'), '[^a-z0-9]+', '', 'g'), ''),
                    '~' || e.ord) as k
    from stg.lab_reports r, jsonb_array_elements(r.results) with ordinality e (value, ord)
    where not r._deleted and jsonb_typeof(r.results) = 'array'
    union
    select r._key, regexp_replace(lower(e.key), '[^a-z0-9]+', '', 'g')
    from stg.lab_reports r, jsonb_each(r.results) e
    where not r._deleted and jsonb_typeof(r.results) = 'object'
    union
    select v.lab_report_id::text, regexp_replace(lower(v.parameter_name), '[^a-z0-9]+', '', 'g')
    from stg.lab_result_value v where not v._deleted
),
legacy as (
    select r._key, (select count(*) from names n where n._key = r._key) as analytes,
           jsonb_typeof(r.results) not in ('array', 'object', 'null') as unreadable
    from stg.lab_reports r where not r._deleted
),
produced as (
    select split_part(k, '#', 1) as report, t, count(distinct k) as n
    from (
        select m.legacy_key as k, m.canonical_table as t
        from ops.legacy_id_map m
        join clinical.lab_order_items i on m.canonical_table = 'clinical.lab_order_items'
             and i.order_item_id = m.canonical_id and i.deleted_at is null
        where m.legacy_table = 'lab_reports'
        union all
        select m.legacy_key, m.canonical_table
        from ops.legacy_id_map m
        join clinical.lab_results x on m.canonical_table = 'clinical.lab_results'
             and x.result_id = m.canonical_id and x.deleted_at is null
        where m.legacy_table = 'lab_reports'
        union all
        select q.legacy_key, q.target_table
        from ops.quarantine q
        where q.legacy_table = 'lab_reports' and q.resolved_at is null and q.legacy_key like '%%#%%'
          and q.target_table in ('clinical.lab_order_items', 'clinical.lab_results')
    ) x
    group by 1, 2
)
select l._key, l.analytes, l.unreadable,
       coalesce((select n from produced p where p.report = l._key and p.t = 'clinical.lab_order_items'), 0),
       coalesce((select n from produced p where p.report = l._key and p.t = 'clinical.lab_results'), 0)
from legacy l
order by 1
"""


def _split_counts(conn) -> list[tuple]:
    """Per live legacy report: its analytes counted independently of the transforms (distinct
    normalized names over the results JSON entries, array or object, and the lab_result_value
    rows; an entry without a name counts alone), whether its results value is unreadable, and the
    items and results the migration produced (loaded or quarantined)."""
    return _rows(conn, SPLIT_COUNTS)


def _check_invariants(conn) -> None:
    for key, analytes, unreadable, items, results in _split_counts(conn):
        # a report without analytes has one item, the ordered test (plus, when its results value is
        # unreadable, one quarantined result for it)
        expected = (analytes, analytes) if analytes else (1, 1 if unreadable else 0)
        assert (items, results) == expected, (key, analytes, unreadable, items, results)
    # every live allocation belongs to a live admission whose encounter is a live IPD encounter
    # starting at admit_at
    assert _one(conn, """
        select count(*) from inpatient.bed_allocations b
        left join inpatient.admissions a on a.admission_id = b.admission_id and a.deleted_at is null
        left join clinical.encounters e on e.encounter_id = a.encounter_id and e.deleted_at is null
        where b.deleted_at is null
          and (a.admission_id is null or e.type is distinct from 'IPD'
               or e.start_at <> a.admit_at)""")[0] == 0
    # one live admission per admission group that loaded
    admissions = _one(conn, "select count(*) from inpatient.admissions where deleted_at is null")[0]
    assert admissions == _one(conn, """
        select count(distinct g.opening_key) from etl.bed_allocation_admissions() g
        join ops.legacy_id_map m on m.legacy_table = 'bed_allocations' and m.legacy_key = g.opening_key
             and m.canonical_table = 'inpatient.admissions'
        where not g.is_deleted""")[0]
    # never two live allocations of one bed at the same time
    assert _one(conn, """
        select count(*) from inpatient.bed_allocations a join inpatient.bed_allocations b
          on a.bed_id = b.bed_id and a.allocation_id < b.allocation_id
         and a.deleted_at is null and b.deleted_at is null
         and tstzrange(a.start_at, a.end_at) && tstzrange(b.start_at, b.end_at)""")[0] == 0


def _overlapping_allocations(conn) -> list[str]:
    """Legacy allocations that start before an earlier allocation of the same bed ends (an open one
    never ends). The generator places beds at random and its truth does not track these; the rule
    (the later one is quarantined) is ours."""
    return [r[0] for r in _rows(conn, """
        select id::text from (
            select id, admission_date < max(coalesce(discharge_date, 'infinity')) over (
                       partition by bed_id order by admission_date, created_at, id
                       rows between unbounded preceding and 1 preceding) as is_overlapping
            from public.bed_allocations where bed_id is not null) x
        where is_overlapping""")]


def _truth_expectations(conn, overlapping: list[str]) -> tuple[dict, dict, dict]:
    """From the generator's ground truth: quarantined rows per '<legacy table>|<reason>' for the
    legacy tables these transforms own (plus the overlapping allocations), the warnings each asset
    must count (one per defective loaded row or analyte, under its first reason), and the analytes
    per lab report."""
    quarantine = dict(_rows(conn, """
        select key, value::bigint from hms_truth.figures
        where name = 'quarantined_rows' and split_part(key, '|', 1) = any(%s)""", OWN_LEGACY))
    if overlapping:
        quarantine["bed_allocations|OVERLAPPING_ALLOCATION"] = len(overlapping)
    warnings = {}
    for asset, order in WARN_ORDER.items():
        warnings[asset] = dict(conn.execute("""
            with d as (  -- the engine counts every warning of a row (detail.warns)
                select distinct legacy_table, legacy_key, coalesce(detail ->> 'analyte', '') as part, reason
                from hms_truth.defects
                where expected = 'LOAD_WITH_WARN' and legacy_table = any(%(tables)s)
                  and reason = any(%(order)s) and legacy_key <> all(%(quarantined)s)
            )
            select reason, count(*) from d group by 1""",
            {"order": list(order), "tables": WARN_TABLES[asset], "quarantined": overlapping}).fetchall())
    analytes = dict(_rows(
        conn, "select key, value::int from hms_truth.figures where name = 'analytes_per_lab_report'"))
    return quarantine, warnings, analytes


# --- generated data --------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["blueprint", "live"])
def test_generated_tiny(fresh_db, monkeypatch, profile):
    prepare(fresh_db, profile=profile)
    first = _run(monkeypatch, fresh_db)  # every asset materialized, reconciliation held
    with psycopg.connect(fresh_db) as conn:
        _check_invariants(conn)
        reports = _one(conn, "select count(*) from public.lab_reports")[0]
        orders = _one(conn, "select count(*) from clinical.lab_orders where deleted_at is null")[0]
        assert orders == reports  # every report is an order (no quarantine expected on this data)
        if profile == "blueprint":
            assert reports > 0
            # the normalized reports (lab_result_value) split too
            assert _one(conn, "select count(*) from ops.legacy_id_map where legacy_table = 'lab_result_value'"
                              " and canonical_table = 'clinical.lab_results'")[0] > 0
            # the seeded lab defects load with a warning
            assert set(first["clinical/lab_results"]["warnings"]) == {"UNPARSEABLE_VALUE", "MISSING_UNIT"}
        assert _one(conn, "select count(*) from inpatient.admissions")[0] > 0
        assert _one(conn, "select count(*) from inpatient.wards")[0] >= 1

        # ground truth: quarantine by reason, warnings by reason, analytes per report
        truth_quarantine, truth_warnings, truth_analytes = _truth_expectations(
            conn, _overlapping_allocations(conn))
        got = dict(_rows(conn, """
            select legacy_table || '|' || reason_code, count(distinct split_part(legacy_key, '#', 1))
            from ops.quarantine where resolved_at is null and target_table = any(%s) group by 1""",
                         list(MINE)))
        assert got == truth_quarantine
        for asset, expected in truth_warnings.items():
            assert first[asset]["warnings"] == expected, asset
        split = {key: (analytes, items, results) for key, analytes, _, items, results in _split_counts(conn)}
        assert set(split) == set(truth_analytes)
        for key, n in truth_analytes.items():
            assert split[key] == (n, n if n else 1, n), key

    second = _run(monkeypatch, fresh_db)
    assert {k: v["rows_written"] for k, v in second.items()} == dict.fromkeys(MY_ASSETS, 0)
    assert all(v["rows_soft_deleted"] == 0 for v in second.values())


# --- hand-made edge cases ---------------------------------------------------------------------

_NAMES = ["t1", "t2", "t3", "t4", "o1", "o2", "pa_orphan", "pa_t2",
          "l1", "l2", "l3", "l4", "l5", "l6", "l7", "v1", "v2", "v7a", "v7b"]
_IDS = {name: f"00000000-0000-0000-0000-{n:012d}" for n, name in enumerate(_NAMES, start=1)}
_AT = "timestamptz '2026-04-02 10:00+00'"  # after the generated data: staged as a change
_LATER = "timestamptz '2026-04-03 10:00+00'"

EDGE_ALLOCATIONS = f"""
insert into bed_allocations (id, bed_id, patient_id, encounter_id, ip_number, admission_date,
                             discharge_date, status, reason, created_at, updated_at)
values
  -- one admission: T1 (own ip_number) transferred, T2 and T3 (no ip_number, no encounter) follow
  (%(t1)s, %(f1)s, %(p1)s, null, 'IP9901', '2026-03-01 10:00+00', '2026-03-03 10:00+00',
   'transferred', 'Transferred to ICU', {_AT}, {_AT}),
  (%(t2)s, %(f2)s, %(p1)s, null, null, '2026-03-03 10:00+00', '2026-03-05 10:00+00',
   'transferred', 'Shifted to ward', {_AT}, {_AT}),
  (%(t3)s, %(f1)s, %(p1)s, null, null, '2026-03-05 10:00+00', null,
   'active', 'Dengue fever', {_AT}, {_AT}),
  -- O2 starts on bed F3 while O1 still holds it
  (%(o1)s, %(f3)s, %(p2)s, null, 'IP9902', '2026-03-10 10:00+00', '2026-03-15 10:00+00',
   'discharged', 'Discharged in stable condition', {_AT}, {_AT}),
  (%(o2)s, %(f3)s, %(p3)s, null, 'IP9903', '2026-03-12 10:00+00', null,
   'active', 'Post-op care', {_AT}, {_AT})
"""

EDGE_HEADERS = f"""
insert into patient_admissions (id, patient_id, bed_allocation_id, admission_date, status,
                                created_at, updated_at)
values (%(pa_orphan)s, %(p1)s, null, '2026-03-01 04:30+00', 'active', {_AT}, {_AT}),
       (%(pa_t2)s, %(p1)s, %(t2)s, '2026-03-01 04:30+00', 'active', {_AT}, {_AT})
"""

EDGE_REPORTS = f"""
insert into lab_reports (id, patient_id, test_name, sample_collected_date, report_date, results,
                         normal_ranges, status, created_at, updated_at)
values
  -- object-form JSON, plus lab_result_value rows (one repeats an analyte, one adds ESR)
  (%(l1)s, %(pl)s, 'Complete Blood Count', '2026-03-20 10:00+00', '2026-03-21 10:00+00',
   '{{"Haemoglobin": {{"value": "13.1", "unit": "g/dL"}}, "WBC": "7000"}}',
   '{{"haemoglobin": "12-17"}}', 'completed', {_AT}, {_AT}),
  -- results that are not analytes at all
  (%(l2)s, %(pl)s, 'Lipid Profile', '2026-03-20 10:00+00', '2026-03-21 10:00+00',
   '"see attached"', null, 'completed', {_AT}, {_AT}),
  -- a repeated analyte and an entry without a name
  (%(l3)s, %(pl)s, 'Blood Sugar', '2026-03-20 10:00+00', null,
   '[{{"parameter": "FBS", "value": "90", "unit": "mg/dL"}}, {{"parameter": "fbs", "value": "95"}},
     {{"value": "1"}}]', null, 'in_progress', {_AT}, {_AT}),
  -- before any encounter of the patient
  (%(l4)s, %(pl)s, 'HbA1c', '2000-01-01 10:00+00', '2000-01-02 10:00+00',
   '[{{"parameter": "HbA1c", "value": "5.1", "unit": "%%"}}]', null, 'completed', {_AT}, {_AT}),
  -- no patient
  (%(l5)s, null, 'Thyroid Profile', '2026-03-20 10:00+00', '2026-03-21 10:00+00',
   '[{{"parameter": "TSH", "value": "2.1", "unit": "uIU/mL"}}]', null, 'completed', {_AT}, {_AT}),
  -- pending, a test the catalog does not have
  (%(l6)s, %(pl)s, 'Vitamin D', '2026-03-20 10:00+00', null, null, null, 'pending', {_AT}, {_AT}),
  -- normalized only (lab_result_value rows)
  (%(l7)s, %(pl)s, 'Renal Function Test', '2026-03-20 10:00+00', '2026-03-21 10:00+00', null, null,
   'completed', {_AT}, {_AT})
"""

EDGE_VALUES = f"""
insert into lab_result_value (id, lab_report_id, parameter_name, value, unit_id, normal_range, created_at)
values (%(v1)s, %(l1)s, 'Haemoglobin', '13.0', %(unit_gdl)s, null, {_AT}),
       (%(v2)s, %(l1)s, 'ESR', '12', null, '0-20', {_AT}),
       (%(v7a)s, %(l7)s, 'Urea', '30', null, '15-40', {_AT}),
       (%(v7b)s, %(l7)s, 'Creatinine', '1.1', null, '0.6-1.3', {_AT})
"""


def _edge_rows(conn) -> dict:
    """Add the edge cases on top of the generated tiny blueprint data; return the ids they use."""
    ids = dict(_IDS)
    patients = _rows(conn, "select id from patients order by patient_id limit 3")
    ids["p1"], ids["p2"], ids["p3"] = [r[0] for r in patients]
    free_beds = _rows(conn, """select id from beds b
        where not exists (select 1 from bed_allocations a where a.bed_id = b.id)
        order by bed_number limit 3""")
    ids["f1"], ids["f2"], ids["f3"] = [r[0] for r in free_beds]
    ids["pl"] = _one(conn, "select patient_id from encounter order by id limit 1")[0]
    ids["unit_gdl"] = _one(conn, "select id from ref_code where domain = 'unit' and code = 'g/dL'")[0]
    for statement in (EDGE_ALLOCATIONS, EDGE_HEADERS, EDGE_REPORTS, EDGE_VALUES):
        conn.execute(statement, ids)
    return ids


def _quarantined(conn, target: str) -> dict[str, str]:
    return dict(_rows(conn, """select legacy_key, reason_code from ops.quarantine
        where target_table = %s and resolved_at is null and legacy_key like '00000000-%%'""", target))


def _result(conn, key: str):
    """(value, unit, ref_range, status, test code) of the live result of '<report>#<analyte>'."""
    return _one(conn, """select r.value, r.unit, r.ref_range, r.status, t.code
        from ops.legacy_id_map m
        join clinical.lab_results r on r.result_id = m.canonical_id and r.deleted_at is null
        join clinical.lab_order_items i on i.order_item_id = r.order_item_id
        join clinical.lab_tests t on t.test_id = i.test_id
        where m.legacy_table = 'lab_reports' and m.legacy_key = %s
          and m.canonical_table = 'clinical.lab_results'""", key)


def _fingerprint(conn) -> dict:
    """Live rows of our tables (bookkeeping columns aside), provenance and open quarantine."""
    out = {}
    volatile = "- 'created_at' - 'updated_at' - 'created_by' - 'updated_by' - 'deleted_at'"
    for name in MINE:
        out[name] = _one(conn, f"""select count(*), md5(coalesce(string_agg(r, '|' order by r), ''))
            from (select (to_jsonb(t) {volatile})::text r from {name} t where t.deleted_at is null) x""")
    out["map"] = _one(conn, """select count(*), md5(string_agg(concat_ws(',', legacy_table, legacy_key,
            canonical_table, canonical_id, disposition), '|'
            order by legacy_table, legacy_key, canonical_table))
        from ops.legacy_id_map where canonical_table = any(%s)""", list(MINE))
    out["quarantine"] = _one(conn, """select count(*), md5(string_agg(concat_ws(',', legacy_table, legacy_key,
            target_table, reason_code), '|' order by legacy_table, legacy_key, target_table, reason_code))
        from ops.quarantine where resolved_at is null and target_table = any(%s)""", list(MINE))
    return out


def _check_edge_cases(conn, i: dict) -> None:
    # inpatient: T1 opens one admission; T2 and T3 continue it through the transfer chain; the
    # header of T2 is merged into it
    adm = _rows(conn, """select m.legacy_key, m.disposition, a.admit_at, a.discharge_at, a.reason
        from ops.legacy_id_map m join inpatient.admissions a on a.admission_id = m.canonical_id
        where m.canonical_table = 'inpatient.admissions' and m.legacy_key = any(%s)
        order by m.legacy_key""", [i["t1"], i["t2"], i["t3"], i["pa_t2"]])
    assert [(k, d) for k, d, *_ in adm] == [
        (i["t1"], "LOADED"), (i["t2"], "MERGED"), (i["t3"], "MERGED"), (i["pa_t2"], "MERGED")]
    assert len({tuple(r[2:]) for r in adm}) == 1
    admit_at, discharge_at, reason = adm[0][2:]
    # IST wall clock 10:00 is 04:30 UTC; the reason survives on the still active row only
    assert (admit_at.isoformat(), discharge_at, reason) == ("2026-03-01T04:30:00+00:00", None, "Dengue fever")
    assert _one(conn, """select e.type, e.start_at = a.admit_at from inpatient.admissions a
        join clinical.encounters e on e.encounter_id = a.encounter_id
        where a.admission_id = etl.canonical_id('inpatient.admissions', 'bed_allocations', %s)""",
                i["t1"]) == ("IPD", True)
    assert _quarantined(conn, "inpatient.admissions") == {i["pa_orphan"]: "ORPHAN_FK"}
    assert _quarantined(conn, "inpatient.bed_allocations") == {i["o2"]: "OVERLAPPING_ALLOCATION"}
    # the admission of the later allocation still loads
    assert _one(conn, """select count(*) from ops.legacy_id_map
        where canonical_table = 'inpatient.admissions' and legacy_key = %s""", i["o2"])[0] == 1

    # lab: object-form JSON and lab_result_value rows give one item and one result per analyte
    assert _result(conn, f"{i['l1']}#haemoglobin") == (
        "13.1", "g/dL", "12-17", "FINAL", "LEGACY-BLOOD-HAEMOGLOBIN")
    assert _result(conn, f"{i['l1']}#wbc") == ("7000", None, None, "FINAL", "LEGACY-BLOOD-WBC")
    assert _result(conn, f"{i['l1']}#esr") == ("12", None, "0-20", "FINAL", "LEGACY-BLOOD-ESR")
    dispositions = dict(_rows(conn, """select legacy_key, disposition from ops.legacy_id_map
        where legacy_table = 'lab_result_value' and canonical_table = 'clinical.lab_results'
          and legacy_key = any(%s)""", [i["v1"], i["v2"]]))
    assert dispositions == {i["v1"]: "MERGED", i["v2"]: "LOADED"}  # ESR has no other source
    items_q = _quarantined(conn, "clinical.lab_order_items")
    assert items_q == {f"{i['l2']}#*": "UNPARSEABLE_VALUE", f"{i['l3']}#~3": "UNPARSEABLE_VALUE",
                       f"{i['l5']}#tsh": "ORPHAN_FK"}
    assert _quarantined(conn, "clinical.lab_results") == items_q
    assert _quarantined(conn, "clinical.lab_orders") == {i["l5"]: "ORPHAN_FK"}
    assert _result(conn, f"{i['l3']}#fbs") == ("90", "mg/dL", None, "PRELIMINARY", "LEGACY-BLOOD-FBS")
    assert _result(conn, f"{i['l4']}#hba1c")[4] == "LT-006"  # the analyte is a catalog test by name
    # L4 predates every encounter of its patient: the first one after it
    assert _one(conn, """select e.start_at > o.ordered_at from clinical.lab_orders o
        join clinical.encounters e on e.encounter_id = o.encounter_id
        where o.order_id = etl.canonical_id('clinical.lab_orders', 'lab_reports', %s)""", i["l4"])[0]
    # a pending report without analytes: one item for the ordered test, no result
    assert _one(conn, """select i.status, t.code from ops.legacy_id_map m
        join clinical.lab_order_items i on i.order_item_id = m.canonical_id
        join clinical.lab_tests t on t.test_id = i.test_id
        where m.legacy_key = %s and m.canonical_table = 'clinical.lab_order_items'""",
                f"{i['l6']}#*") == ("ORDERED", "LEGACY-VITAMIN_D")


LEGACY_CHANGES = f"""
-- a unit added in the JSON
update lab_reports set updated_at = {_LATER},
       results = '{{"Haemoglobin": {{"value": "13.1", "unit": "g/dL"}},
                    "WBC": {{"value": "7000", "unit": "cells/uL"}}}}'
where id = %(l1)s;
-- the only source row of an analyte removed
delete from lab_result_value where id = %(v7b)s;
-- the allocation the overlapping one collided with removed
delete from bed_allocations where id = %(o1)s;
-- one more transfer
update bed_allocations set status = 'transferred', discharge_date = '2026-03-07 10:00+00',
       reason = 'Transferred to ICU', updated_at = {_LATER}
where id = %(t3)s;
insert into bed_allocations (id, bed_id, patient_id, ip_number, admission_date, status, reason,
                             created_at, updated_at)
values (%(t4)s, %(f2)s, %(p1)s, null, '2026-03-07 10:00+00', 'active', 'Dengue fever', {_LATER}, {_LATER});
"""


def test_edge_cases_and_incremental_equals_full(fresh_db, monkeypatch):
    prepare(fresh_db, profile="blueprint")
    with psycopg.connect(fresh_db) as conn:
        ids = _edge_rows(conn)
    first = _run(monkeypatch, fresh_db)
    assert first["clinical/lab_results"]["warnings"].get("MISSING_UNIT", 0) >= 1
    with psycopg.connect(fresh_db) as conn:
        _check_invariants(conn)
        _check_edge_cases(conn, ids)

    second = _run(monkeypatch, fresh_db)
    assert {k: v["rows_written"] for k, v in second.items()} == dict.fromkeys(MY_ASSETS, 0)

    with psycopg.connect(fresh_db) as conn:
        for statement in LEGACY_CHANGES.split(";\n")[:-1]:
            conn.execute(statement, ids)
    _run(monkeypatch, fresh_db)
    with psycopg.connect(fresh_db) as conn:
        _check_invariants(conn)
        assert _result(conn, f"{ids['l1']}#wbc")[1] == "cells/uL"
        assert _result(conn, f"{ids['l7']}#creatinine") is None  # soft-deleted with its only source row
        assert _result(conn, f"{ids['l7']}#urea") == ("30", None, "15-40", "FINAL", "LEGACY-BLOOD-UREA")
        assert _quarantined(conn, "inpatient.bed_allocations") == {}  # O2 no longer overlaps: loaded
        assert _one(conn, """select count(distinct canonical_id) from ops.legacy_id_map
            where canonical_table = 'inpatient.admissions' and legacy_key = any(%s)""",
                    [ids["t1"], ids["t2"], ids["t3"], ids["t4"]])[0] == 1
        incremental = _fingerprint(conn)
    _run(monkeypatch, fresh_db, full=True)
    with psycopg.connect(fresh_db) as conn:
        assert _fingerprint(conn) == incremental
