"""pharmacy.items: one item per real medicine, from medications and (where it is a table) medicines.

On generated data (both profiles) against the generator's ground truth; on a hand-built catalog
whose exact groups are known; a reviewer's decision (ref.codes 'review:pharmacy.items') merging and
un-merging an ambiguous pair; every legacy code resolving to its item (pharmacy.item_for_code)."""

from __future__ import annotations

import unicodedata

import psycopg
from psycopg import sql
import pytest

from backfill_helpers import failed_checks, fingerprint, materializations, prepare, run_backfill
from hms_pipeline.paths import sql_file
from hms_pipeline.sqlrun import apply_ddl

TARGETS = ["pharmacy.items"]


def run(monkeypatch, url: str, *, suites: bool = True):
    result = run_backfill(monkeypatch, url, targets=TARGETS, suites=suites)
    assert result.success, failed_checks(result)
    assert not failed_checks(result)
    return materializations(result)


def item_groups(conn) -> set[frozenset]:
    """The legacy rows of each live item, as sets of (legacy table, legacy key)."""
    groups: dict = {}
    for table, key, item in conn.execute(
            """select m.legacy_table, m.legacy_key, m.canonical_id from ops.legacy_id_map m
               join pharmacy.items i on i.item_id = m.canonical_id and i.deleted_at is null
               where m.canonical_table = 'pharmacy.items'"""):
        groups.setdefault(item, set()).add((table, key))
    return {frozenset(g) for g in groups.values()}


def unaccounted(conn) -> list:
    """Staged legacy drug rows neither mapped (LOADED/MERGED) to a live item nor in quarantine."""
    return conn.execute(
        """select s.t, s._key from (select 'medications' as t, _key from stg.medications where not _deleted
                                    union all select 'medicines', _key from stg.medicines where not _deleted) s
           where not exists (select 1 from ops.legacy_id_map m
                             join pharmacy.items i on i.item_id = m.canonical_id and i.deleted_at is null
                             where m.canonical_table = 'pharmacy.items' and m.legacy_table = s.t and m.legacy_key = s._key)
             and not exists (select 1 from ops.quarantine q
                             where q.target_table = 'pharmacy.items' and q.legacy_table = s.t and q.legacy_key = s._key
                               and q.resolved_at is null)""").fetchall()


def unresolved_codes(conn) -> list:
    """Legacy rows with a code that pharmacy.item_for_code() does not resolve to the row's item."""
    return conn.execute(
        """select s.t, s._key from (select 'medications' as t, _key, medication_code from stg.medications where not _deleted
                                    union all select 'medicines', _key, medication_code from stg.medicines where not _deleted) s
           join ops.legacy_id_map m on m.canonical_table = 'pharmacy.items' and m.legacy_table = s.t and m.legacy_key = s._key
           where nullif(btrim(s.medication_code), '') is not null
             and not exists (select 1 from pharmacy.item_for_code(s.medication_code) f where f.item_id = m.canonical_id)"""
    ).fetchall()


def candidates(conn) -> dict:
    """The transform's rows, keyed by (legacy table, legacy key): run in a rolled-back transaction
    (the rule of a merge and the warnings are in _detail, which the engine does not store)."""
    with conn.transaction(force_rollback=True):
        conn.execute("create temp table _todo (legacy_table text, key text)")
        cur = conn.execute(sql_file("pharmacy", "items.sql").read_text(),
                           {"run_id": "test", "facility_name": "Test", "facility_tz": "Asia/Kolkata"})
        cols = [d.name for d in cur.description]
        return {(r["_legacy_table"], r["_legacy_key"]): r for r in (dict(zip(cols, row)) for row in cur.fetchall())}


# --- generated data ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["blueprint", "live"])
def generated(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "pharm")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile=request.param)
        first = run(mp, url)
        before = fingerprint(url)
        second = run(mp, url)
        yield request.param, url, first, second, before
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_items_are_the_truths_distinct_medicines(generated):
    profile, url, first, *_ = generated
    with psycopg.connect(url) as conn:
        items = conn.execute("select count(*) from pharmacy.items where deleted_at is null").fetchone()[0]
        truth = conn.execute("select value from hms_truth.figures where name = 'distinct_medicines' and key = '*'").fetchone()[0]
        assert items == truth
        assert first["pharmacy/items"]["rows_written"] == items
        assert unaccounted(conn) == []
        # the staged copies are the legacy tables (medicines: only where it is a table)
        staged = conn.execute("select (select count(*) from stg.medications), (select count(*) from stg.medicines)").fetchone()
        legacy = conn.execute("select (select count(*) from public.medications), "
                              "(select count(*) from pg_tables where schemaname = 'public' and tablename = 'medicines')").fetchone()
        assert staged[0] == legacy[0]
        if profile == "live":  # medicines is a view over medications: not staged, no item from it
            assert legacy[1] == 0 and staged[1] == 0
            assert conn.execute("select count(*) from ops.legacy_id_map where legacy_table = 'medicines'").fetchone()[0] == 0
        else:
            assert staged[1] == conn.execute("select count(distinct id) from public.medicines").fetchone()[0] > 0


def test_duplicate_drugs_end_on_the_item_the_truth_names(generated):
    profile, url, *_ = generated
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select d.legacy_table, d.legacy_key, m.disposition, m.canonical_id = t.canonical_id
               from hms_truth.defects d
               left join ops.legacy_id_map m on m.canonical_table = 'pharmacy.items'
                    and m.legacy_table = d.legacy_table and m.legacy_key = d.legacy_key
               left join ops.legacy_id_map t on t.canonical_table = 'pharmacy.items'
                    and t.legacy_table = 'medications' and t.legacy_key = split_part(d.expected, ':', 2)
               where d.kind = 'duplicate_drug'""").fetchall()
    assert {r[0] for r in rows} == ({"medications", "medicines"} if profile == "blueprint" else {"medications"})
    # the pair is one item (which row survives is the survivor rule's choice: the import scheme's);
    # a medicines repeat (an exact copy keeps its medications row's id) merges into a medications row
    assert [r for r in rows if not r[3]] == []
    assert [r for r in rows if r[0] == "medicines" and r[2] != "MERGED"] == []


def test_medications_backup_yields_nothing(generated):
    _, url, *_ = generated
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from public.medications_backup").fetchone()[0] > 0
        assert conn.execute("select to_regclass('stg.medications_backup')").fetchone()[0] is None
        assert conn.execute("select count(*) from ops.legacy_id_map where legacy_table = 'medications_backup'").fetchone()[0] == 0


def test_every_legacy_code_resolves_to_its_item(generated):
    _, url, *_ = generated
    with psycopg.connect(url) as conn:
        assert unresolved_codes(conn) == []
        merged_codes = conn.execute(
            """select count(*) from pharmacy.items i, jsonb_array_elements_text(i.legacy_attributes -> 'legacy_codes')
               where i.deleted_at is null""").fetchone()[0]
        assert merged_codes > 0  # the other scheme's codes of merged duplicates


def test_a_rerun_without_change_writes_nothing(generated):
    _, url, _, second, before = generated
    assert second["pharmacy/items"]["rows_written"] == 0
    assert second["pharmacy/items"].get("rows_soft_deleted", 0) == 0
    assert fingerprint(url) == before


# --- a hand-built catalog ------------------------------------------------------------------------


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def seed_code(n: int) -> str:  # seed script: 'MED-' + 32 hex (a uuid without dashes)
    return f"MED-{n:032X}"


def import_code(n: int) -> str:  # import: 'MED-' + 24 hex of md5(name|manufacturer), as written (lower case)
    return f"MED-{n:024x}"


BIG = "x" * 1_000_000

# (table, id, code, name, strength, dosage_form, manufacturer, other columns)
CATALOG = [
    # the same drug under both MED- schemes, strength only in the seed row's name; its medicines
    # repeat has the import's code, a lower-case name and '2 mg'
    ("medications", uid(1), seed_code(1), "Acitrom 2mg Tab", None, "Tablet", "Abbott", {}),
    ("medications", uid(2), import_code(2), "Acitrom 2mg Tab", "2mg", "tablet", "abbott", {}),
    ("medicines", uid(3), import_code(2), "acitrom 2 mg tab", "2 mg", "Tablet", "Abbott", {}),
    # double spaces; form only in the name; a manufacturer misspelling
    ("medications", uid(4), import_code(4), "Pan  40mg  Tab ", "40mg", "Tablet", "Alkem", {}),
    ("medications", uid(5), seed_code(5), "Pan 40mg Tab", None, None, "Alkem Labs", {}),
    # one name in two forms: two items
    ("medications", uid(6), import_code(6), "Ascoril", None, "Tablet", "Glenmark", {}),
    ("medications", uid(7), import_code(7), "Ascoril", None, "Syrup", "Glenmark", {}),
    # look-alike names whose strength differs: two items
    ("medications", uid(8), import_code(8), "Dolo 500mg Tab", "500mg", "Tablet", "Micro Labs", {}),
    ("medications", uid(9), import_code(9), "Dolo 650mg Tab", "650mg", "Tablet", "Micro Labs", {}),
    # one name, two strengths, and a row without strength compatible with both: three items, the
    # last on the review list
    ("medications", uid(10), import_code(10), "Azithral", "250mg", "Tablet", "Alembic", {}),
    ("medications", uid(11), import_code(11), "Azithral", "500mg", "Tablet", "Alembic", {}),
    ("medications", uid(12), seed_code(12), "AZITHRAL", None, "Tablet", "Alembic", {}),
    # form, strength and manufacturer all unknown, a look-alike name: never merged
    ("medications", uid(13), seed_code(13), "Dolo-650", None, None, None, {}),
    # manufacturers contradict: two items; fssai is no manufacturer: ambiguous between them
    ("medications", uid(14), import_code(14), "Telma 40mg Tab", "40mg", "Tablet", "Glenmark", {}),
    ("medications", uid(15), import_code(15), "Telma 40mg Tab", "40mg", "Tablet", "CIPLA", {}),
    ("medications", uid(16), seed_code(16), "Telma 40mg Tab", None, "Tablet", "fssai", {}),
    # a blank name cannot be an item
    ("medicines", uid(17), import_code(17), "   ", "10mg", "Tablet", "Cipla", {}),
    # a number without a unit is no strength; medicines repeats the row (same id and code)
    ("medications", uid(18), import_code(18), "Carvil 3.125 Tab", None, "Tablet", "Sun Pharma", {}),
    ("medicines", uid(18), import_code(18), "Carvil 3.125 Tab", None, "Tablet", "Sun Pharma", {}),
    # one code, contradicting forms: two items; the medications row keeps the code
    ("medications", uid(19), import_code(19), "Crocin 500mg Syp", "500mg", "Syrup", "GSK", {}),
    ("medicines", uid(20), import_code(19), "Crocin 500mg Syp", "500mg", "Tablet", "GSK", {}),
    # an external (non-stock) item stays apart and visible
    ("medications", uid(21), import_code(21), "Dolo 650mg Tab (External)", "650mg", "Tablet", "External Pharmacy",
     {"is_external": True, "category": "External"}),
    # composed and decomposed e-acute are one name; a 1 MB attribute is kept
    ("medications", uid(22), import_code(22), unicodedata.normalize("NFC", "Caf\u00e9 10mg Tab"), "10mg", "Tablet", "Intas",
     {"side_effects": BIG, "mrp": 42.5, "gst_percent": 12, "hsn_code": "300490", "status": "discontinued"}),
    ("medicines", uid(23), None, unicodedata.normalize("NFD", "Caf\u00e9 10mg Tab"), None, "TABLET", "intas", {}),
    # the same id twice in medicines (no primary key): staged once, one item
    ("medicines", uid(24), import_code(24), "Limcee 500mg Tab", "500mg", "Tablet", "Abbott", {}),
    ("medicines", uid(24), import_code(24), "Limcee 500mg Tab", "500mg", "Tablet", "Abbott", {}),
]

EXPECTED_GROUPS = {frozenset(g) for g in [
    {("medications", uid(1)), ("medications", uid(2)), ("medicines", uid(3))},
    {("medications", uid(4)), ("medications", uid(5))},
    {("medications", uid(6))}, {("medications", uid(7))},
    {("medications", uid(8))}, {("medications", uid(9))},
    {("medications", uid(10))}, {("medications", uid(11))}, {("medications", uid(12))},
    {("medications", uid(13))},
    {("medications", uid(14))}, {("medications", uid(15))}, {("medications", uid(16))},
    {("medications", uid(18)), ("medicines", uid(18))},
    {("medications", uid(19))}, {("medicines", uid(20))},
    {("medications", uid(21))},
    {("medications", uid(22)), ("medicines", uid(23))},
    {("medicines", uid(24))},
]}
EXPECTED_RULES = {
    ("medications", uid(1)): "SAME_ATTRIBUTES",  # strength from its name = the import row's column
    ("medicines", uid(3)): "SAME_CODE",
    ("medications", uid(5)): "SAME_ATTRIBUTES",  # form from the name, 'Alkem Labs' = 'Alkem'
    ("medicines", uid(18)): "SAME_CODE",
    ("medicines", uid(23)): "SAME_ATTRIBUTES",
}
AMBIGUOUS = {("medications", uid(n)) for n in (10, 11, 12, 14, 15, 16, 19)} | {("medicines", uid(20))}


def build_catalog(url: str) -> None:
    """The legacy schema of the blueprint profile, empty but for CATALOG."""
    from hms_pipeline.legacy.schema import create_legacy_schema

    with psycopg.connect(url) as conn:
        apply_ddl(conn)
        create_legacy_schema(conn, "public", "blueprint")
        for table, id_, code, name, strength, form, maker, extra in CATALOG:
            cols = ["id", "medication_code", "name", "strength", "dosage_form", "manufacturer", *extra]
            conn.execute(sql.SQL("insert into {} ({}) values ({})").format(
                sql.Identifier("public", table), sql.SQL(", ").join(map(sql.Identifier, cols)),
                sql.SQL(", ").join(sql.Placeholder() * len(cols))), [id_, code, name, strength, form, maker, *extra.values()])


@pytest.fixture(scope="module")
def catalog(pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "pharmcat")
    mp = pytest.MonkeyPatch()
    try:
        build_catalog(url)
        mats = run(mp, url)
        yield url, mats
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_catalog_dedupes_to_the_expected_items(catalog):
    url, mats = catalog
    with psycopg.connect(url) as conn:
        assert item_groups(conn) == EXPECTED_GROUPS
        assert unaccounted(conn) == []
        quarantined = conn.execute(
            """select legacy_table, legacy_key, reason_code, detail from ops.quarantine
               where target_table = 'pharmacy.items' and resolved_at is null""").fetchall()
        # a blank name; the second copy of the repeated medicines id (staging keeps one copy per key,
        # the other is accounted as DUPLICATE_LEGACY_KEY, naming the staged copy)
        assert sorted((q[0], q[1].split("~")[0], q[2]) for q in quarantined) == [
            ("medicines", uid(17), "MISSING_VALUE"), ("medicines", uid(24), "DUPLICATE_LEGACY_KEY")]
        for q in quarantined:
            assert set(q[3]) <= {"column", "rule", "survivor_key"}  # no row values
        # the repeated medicines id is staged (and mapped) once
        assert conn.execute("select count(*) from ops.legacy_id_map where canonical_table = 'pharmacy.items' and legacy_key = %s",
                            (uid(24),)).fetchone()[0] == 1
    assert mats["pharmacy/items"]["rows_written"] == len(EXPECTED_GROUPS)
    assert mats["pharmacy/items"]["warnings"]["AMBIGUOUS_MATCH"] == len(AMBIGUOUS)


def test_catalog_rules_warnings_and_survivors(catalog):
    url, _ = catalog
    with psycopg.connect(url) as conn:
        cand = candidates(conn)
        rules = {k: r["_detail"]["rule"] for k, r in cand.items() if r["_disposition"] == "MERGED" and r["_reason"] is None}
        assert rules == EXPECTED_RULES
        ambiguous = {k for k, r in cand.items() if "AMBIGUOUS_MATCH" in ((r["_detail"] or {}).get("warns") or [])}
        assert ambiguous == AMBIGUOUS
        # the review list names the other items by legacy key
        others = {o["legacy_key"] for o in cand[("medications", uid(12))]["_detail"]["ambiguous_with"]}
        assert others == {uid(10), uid(11)}
        items = {r[0]: r[1:] for r in conn.execute(
            """select m.legacy_key, i.code, i.name, i.strength, i.form, i.manufacturer, i.is_external, i.is_active,
                      i.gst_rate, i.hsn_code, i.legacy_attributes
               from pharmacy.items i join ops.legacy_id_map m on m.canonical_id = i.item_id and m.disposition = 'LOADED'
               where i.deleted_at is null""")}
    # survivor: the import-scheme row; the seed row's code resolves through legacy_codes
    assert items[uid(2)][:5] == (import_code(2).upper(), "Acitrom 2mg Tab", "2mg", "TABLET", "Abbott")
    assert items[uid(2)][9]["legacy_codes"] == [seed_code(1)]
    assert items[uid(4)][1:5] == ("Pan 40mg Tab", "40mg", "TABLET", "Alkem")
    assert items[uid(18)][2] is None  # 'Carvil 3.125': no unit, no strength
    assert items[uid(13)][2:5] == (None, None, None)
    assert items[uid(16)][4] is None  # fssai is no manufacturer
    assert items[uid(21)][5] is True and items[uid(8)][5] is False
    # one code per item: the shared code stays with the medications row; the other gets its own
    assert items[uid(19)][0] == import_code(19).upper()
    with psycopg.connect(url) as conn:
        crocin_tab = conn.execute(
            """select i.code, i.legacy_attributes from pharmacy.items i join ops.legacy_id_map m on m.canonical_id = i.item_id
               where m.legacy_table = 'medicines' and m.legacy_key = %s""", (uid(20),)).fetchone()
    assert crocin_tab[0].startswith("MIG-") and crocin_tab[1]["legacy_codes"] == [import_code(19).upper()]
    # the survivor's other attributes are kept: 1 MB included; discontinued is inactive
    cafe = items[uid(22)]
    assert cafe[1] == unicodedata.normalize("NFC", "Caf\u00e9 10mg Tab") and cafe[4] == "Intas"
    assert cafe[6] is False and float(cafe[7]) == 12 and cafe[8] == "300490"
    assert cafe[9]["side_effects"] == BIG and float(cafe[9]["mrp"]) == 42.5 and cafe[9]["status"] == "discontinued"


def test_catalog_every_legacy_code_resolves(catalog):
    url, _ = catalog
    with psycopg.connect(url) as conn:
        assert unresolved_codes(conn) == []
        # any case, any blanks
        lookup = conn.execute("select item_id, match from pharmacy.item_for_code(%s)", (" " + seed_code(1).lower(),)).fetchall()
        item = conn.execute("select canonical_id from ops.legacy_id_map where canonical_table = 'pharmacy.items' and legacy_key = %s",
                            (uid(2),)).fetchone()[0]
        assert lookup == [(item, "LEGACY_CODE")]
        # a code two contradicting rows share: both items, the one holding it first
        shared = conn.execute("select match from pharmacy.item_for_code(%s)", (import_code(19),)).fetchall()
        assert shared == [("CODE",), ("LEGACY_CODE",)]


# --- a reviewer's decision -----------------------------------------------------------------------


def test_a_reviewers_decision_merges_on_the_next_run_and_its_removal_splits(pg_server_url, monkeypatch, tmp_path):
    from conftest import create_database, drop_database

    from hms_pipeline.engine import scripted

    url = create_database(pg_server_url, "pharmrev")
    try:
        build_catalog(url)
        run(monkeypatch, url, suites=False)
        with psycopg.connect(url) as conn:
            assert item_groups(conn) == EXPECTED_GROUPS

        # the reviewer decides: the Azithral row without strength is the 500 mg one
        decision = tmp_path / "pharmacy_review_test.sql"
        decision.write_text(
            "insert into ref.codes (code, system, display) "
            f"values ('{uid(12)}', 'review:pharmacy.items', '{uid(11)}') on conflict (code, system) do nothing;\n")
        files = scripted.script_files
        monkeypatch.setattr(scripted, "script_files",
                            lambda spec: [*files(spec), decision] if spec.name == "ref.codes" else files(spec))
        mats = run(monkeypatch, url)
        assert mats["pharmacy/items"]["rows_soft_deleted"] == 1
        with psycopg.connect(url) as conn:
            merged = {("medications", uid(11)), ("medications", uid(12))}
            assert item_groups(conn) == (EXPECTED_GROUPS - {frozenset({k}) for k in merged}) | {frozenset(merged)}
            assert conn.execute("select disposition from ops.legacy_id_map where canonical_table = 'pharmacy.items' and legacy_key = %s",
                                (uid(12),)).fetchone()[0] == "MERGED"
            assert conn.execute("select count(*) from pharmacy.items where deleted_at is null").fetchone()[0] \
                == len(EXPECTED_GROUPS) - 1
            assert candidates(conn)[("medications", uid(12))]["_detail"]["rule"] == "REVIEWER"
            assert unaccounted(conn) == [] and unresolved_codes(conn) == []
        assert run(monkeypatch, url)["pharmacy/items"]["rows_written"] == 0  # applied once

        # the decision is withdrawn: the next run splits the pair again
        monkeypatch.setattr(scripted, "script_files", files)
        mats = run(monkeypatch, url)
        assert mats["pharmacy/items"]["rows_written"] >= 1
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from ref.codes where system = 'review:pharmacy.items'").fetchone()[0] == 0
            assert item_groups(conn) == EXPECTED_GROUPS
            assert conn.execute("select disposition from ops.legacy_id_map where canonical_table = 'pharmacy.items' and legacy_key = %s",
                                (uid(12),)).fetchone()[0] == "LOADED"
            assert unaccounted(conn) == [] and unresolved_codes(conn) == []
    finally:
        drop_database(pg_server_url, url)
