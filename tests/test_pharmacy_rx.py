"""pharmacy.prescriptions, pharmacy.rx_lines, pharmacy.dispenses (issue #17, the prescription part).

On generated data (blueprint, live and the hostile blueprint shape) against the generator's ground
truth: the backfill succeeds, every legacy row is loaded, merged or quarantined, the truth's
defects end as it says, lines name surviving items, dispenses have qty > 0 and a batch, a re-run
writes nothing. On hand-made changes of generated legacy rows: a free-text drug name written with
other spacing, case and unit spacing resolves to its item; a name naming no item loads the line
with item NULL and a WARN (ORPHAN_FK); a 'Frequency:' part of instructions fills an empty
frequency."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql
import pytest

from backfill_helpers import failed_checks, fingerprint, materializations, prepare, run_backfill
from hms_pipeline.defs import pharmacy
from hms_pipeline.engine.reconcile import reconcile
from hms_pipeline.paths import sql_file

TARGETS = ["pharmacy.prescriptions", "pharmacy.rx_lines", "pharmacy.dispenses"]
ASSETS = [t.replace(".", "/") for t in TARGETS]
SPECS = [s for s in pharmacy.SPECS if s.name in TARGETS]
SOURCES = {"pharmacy.prescriptions": ["prescriptions"], "pharmacy.rx_lines": ["prescription_items"],
           "pharmacy.dispenses": ["prescription_dispensed_items", "prescription_dispensed", "prescription_dispensing"]}
PK = {"pharmacy.prescriptions": "rx_id", "pharmacy.rx_lines": "rx_line_id", "pharmacy.dispenses": "dispense_id"}
# what a quarantine entry's detail may say: column names, rules, the engine's pre-flight facts
DETAIL_KEYS = {"column", "columns", "rule", "constraint", "expectation", "parent", "expected_type", "survivor",
               "survivor_key", "survivor_quarantined"}


def run(monkeypatch, url: str, *, suites: bool = True):
    result = run_backfill(monkeypatch, url, targets=TARGETS, suites=suites)
    messages = [e.event_specific_data.error.message[:800] for e in result.get_step_failure_events()]
    assert result.success, messages
    assert not failed_checks(result), failed_checks(result)
    return materializations(result)


def candidates(conn, table: str) -> dict:
    """The transform's rows keyed by (legacy table, legacy key), run in a rolled-back transaction
    (the warnings are in _detail, which the engine does not store)."""
    with conn.transaction(force_rollback=True):
        conn.execute("set local timezone = 'UTC'")
        conn.execute("create temp table _todo (legacy_table text, key text)")
        cur = conn.execute(sql_file("pharmacy", f"{table}.sql").read_text(),
                           {"run_id": "test", "facility_name": "Test", "facility_tz": "Asia/Kolkata"})
        cols = [d.name for d in cur.description]
        return {(r["_legacy_table"], r["_legacy_key"]): r for r in (dict(zip(cols, row)) for row in cur.fetchall())}


def warns(row: dict) -> list[str]:
    return (row["_detail"] or {}).get("warns") or []


def unaccounted(conn, table: str) -> list:
    """Staged legacy rows of the table's sources neither mapped to a live row nor in quarantine."""
    out = []
    for legacy in SOURCES[table]:
        out += conn.execute(
            f"""select %s, s._key from stg.{legacy} s
                where not s._deleted
                  and not exists (select 1 from ops.legacy_id_map m
                                  join {table} t on t.{PK[table]} = m.canonical_id and t.deleted_at is null
                                  where m.canonical_table = %s and m.legacy_table = %s and m.legacy_key = s._key)
                  and not exists (select 1 from ops.quarantine q
                                  where q.target_table = %s and q.legacy_table = %s
                                    and split_part(q.legacy_key, '~', 1) = s._key and q.resolved_at is null)""",
            (legacy, table, legacy, table, legacy)).fetchall()
    return out


# --- generated data ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["blueprint", "live", "hostile"])
def generated(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "rx")
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


def test_every_legacy_row_is_loaded_merged_or_quarantined(generated):
    profile, url, first, *_ = generated
    with psycopg.connect(url) as conn:  # the conservation checks' shared body sees every row, all accounted
        for target, legacy in (("pharmacy.prescriptions", "prescriptions"), ("pharmacy.rx_lines", "prescription_items")):
            n, off = conn.execute("""select count(*), count(*) filter (where expected is distinct from actual)
                                     from etl.legacy_rows_accounted(%s, %s)""", (target, legacy)).fetchone()
            staged = conn.execute(sql.SQL("select count(*) from {} where not _deleted").format(
                sql.Identifier("stg", legacy))).fetchone()[0]
            assert (n, off) == (staged, 0) and n > 0, (target, n, off, staged)
    assert set(ASSETS) <= set(first)
    with psycopg.connect(url) as conn:
        for spec in SPECS:
            recon = reconcile(conn, spec)
            assert recon.ok, recon.problems()
            assert unaccounted(conn, spec.name) == [], spec.name
        counts = {t: conn.execute(sql.SQL("select count(*) from {} where deleted_at is null").format(
            sql.Identifier(*t.split(".")))).fetchone()[0] for t in TARGETS}
        legacy = {t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("public", t))).fetchone()[0]
                  for t in ("prescriptions", "prescription_items")}
        assert counts["pharmacy.prescriptions"] > 0 and counts["pharmacy.rx_lines"] > 0
        if profile != "hostile":  # every prescription and line loads (the truth quarantines none)
            assert counts["pharmacy.prescriptions"] == legacy["prescriptions"]
            assert counts["pharmacy.rx_lines"] == legacy["prescription_items"]
        if profile == "live":  # no dispensing table has rows live (Decision 1, contract)
            assert counts["pharmacy.dispenses"] == 0
        else:
            assert counts["pharmacy.dispenses"] > 0
        # quarantine details name columns and rules, never a value
        for (detail,) in conn.execute(
                "select detail from ops.quarantine where target_table = any(%s) and resolved_at is null", (TARGETS,)):
            assert set(detail) <= DETAIL_KEYS, detail
            assert len(str(detail)) < 500


def test_the_truths_defects_end_as_it_says(generated):
    profile, url, first, *_ = generated
    with psycopg.connect(url) as conn:
        truth = conn.execute(
            """select kind, legacy_table, legacy_key from hms_truth.defects
               where legacy_table in ('prescriptions', 'prescription_items')
                 and kind in ('orphan_fk', 'unknown_status') and not coalesce((detail ->> 'hostile_touched')::boolean, false)
               order by 1, 2, 3""").fetchall()
        assert {k for k, *_ in truth} == {"orphan_fk", "unknown_status"}
        cand = {**candidates(conn, "prescriptions"), **candidates(conn, "rx_lines")}
        for kind, table, key in truth:
            row = cand[(table, key)]
            if profile == "hostile" and row["_reason"] == "ORPHAN_FK":
                # hostile content elsewhere (a NULL, a repeated id) kept its parent out: the encounter
                # or prescription the truth presumes is not loaded, so the row waits in quarantine
                assert row["_detail"]["column"] in ("encounter_id", "prescription_id"), row["_detail"]
                continue
            assert row["_reason"] is None, (kind, table)  # LOAD_FK_NULL / LOAD_WITH_WARN: loaded
            if kind == "orphan_fk":  # a dangling appointment_id: reported, not kept
                assert "ORPHAN_FK" in warns(row) and "appointment_id" in row["_detail"]["columns"]
                assert "appointment_id" not in row["legacy_attributes"]
            else:
                assert row["status"] is None and "UNKNOWN_STATUS" in warns(row)
        if profile != "hostile":
            # exactly the truth's warnings of these kinds, and no quarantine (the truth names none)
            orphans = {k for (t, k), r in cand.items()
                       if t == "prescriptions" and "appointment_id" in ((r["_detail"] or {}).get("columns") or [])}
            assert orphans == {k for kind, t, k in truth if kind == "orphan_fk"}
            unknown = {(t, k) for (t, k), r in cand.items() if "UNKNOWN_STATUS" in warns(r)}
            assert unknown == {(t, k) for kind, t, k in truth if kind == "unknown_status"}
            assert first["pharmacy/prescriptions"]["warnings"]["UNKNOWN_STATUS"] == \
                sum(1 for kind, t, _ in truth if kind == "unknown_status" and t == "prescriptions")
            assert conn.execute("""select count(*) from ops.quarantine where resolved_at is null
                                   and target_table in ('pharmacy.prescriptions', 'pharmacy.rx_lines')""").fetchone()[0] == 0


def test_prescriptions_hang_off_a_live_encounter_of_their_legacy_row(generated):
    profile, url, *_ = generated
    with psycopg.connect(url) as conn:
        # every live prescription has a live encounter; where the legacy encounter loaded, it is that
        # one (or the IPD stay it merged into)
        assert conn.execute("""select count(*) from pharmacy.prescriptions p
                               left join clinical.encounters e on e.encounter_id = p.encounter_id and e.deleted_at is null
                               where p.deleted_at is null and e.encounter_id is null""").fetchone()[0] == 0
        assert conn.execute("""select count(*) from stg.prescriptions s
                               join ops.legacy_id_map m on m.canonical_table = 'pharmacy.prescriptions'
                                and m.legacy_table = 'prescriptions' and m.legacy_key = s._key
                               join pharmacy.prescriptions p on p.rx_id = m.canonical_id
                               join ops.legacy_id_map em on em.canonical_table = 'clinical.encounters'
                                and em.legacy_table = 'encounter' and em.legacy_key = s.encounter_id::text
                               join clinical.encounters e on e.encounter_id = em.canonical_id and e.deleted_at is null
                               where p.encounter_id <> em.canonical_id""").fetchone()[0] == 0


def test_lines_name_surviving_items(generated):
    _, url, *_ = generated
    with psycopg.connect(url) as conn:
        # an item of a line is live and LOADED by a legacy drug row (never merged away or deleted)
        assert conn.execute("""select count(*) from pharmacy.rx_lines l
                               left join pharmacy.items i on i.item_id = l.item_id and i.deleted_at is null
                               where l.deleted_at is null and l.item_id is not null
                                 and (i.item_id is null or not exists (
                                      select 1 from ops.legacy_id_map m where m.canonical_table = 'pharmacy.items'
                                      and m.canonical_id = l.item_id and m.disposition = 'LOADED'))""").fetchone()[0] == 0
        # a line whose medication is a live drug row is on that row's item: a MERGED one on its survivor's
        by_id = conn.execute("""select count(*), count(*) filter (where m.disposition = 'MERGED'),
                                       count(*) filter (where l.item_id is distinct from m.canonical_id)
                                from stg.prescription_items s
                                join ops.legacy_id_map lm on lm.canonical_table = 'pharmacy.rx_lines'
                                 and lm.legacy_table = 'prescription_items' and lm.legacy_key = s._key
                                join pharmacy.rx_lines l on l.rx_line_id = lm.canonical_id and l.deleted_at is null
                                join ops.legacy_id_map m on m.canonical_table = 'pharmacy.items'
                                 and m.legacy_table = 'medications' and m.legacy_key = s.medication_id::text
                                join pharmacy.items i on i.item_id = m.canonical_id and i.deleted_at is null
                                where not s._deleted""").fetchone()
        assert by_id[0] > 0 and by_id[2] == 0
        assert by_id[1] > 0  # some lines prescribe a duplicate drug row merged into another


def test_dispenses_have_a_positive_quantity_and_a_live_batch(generated):
    profile, url, first, *_ = generated
    with psycopg.connect(url) as conn:
        bad = conn.execute("""select count(*) from pharmacy.dispenses d
                              left join pharmacy.batches b on b.batch_id = d.batch_id and b.deleted_at is null
                              where d.deleted_at is null
                                and (d.qty is null or d.qty <= 0 or b.batch_id is null or d.dispensed_at is null)
                           """).fetchone()[0]
        assert bad == 0
        if profile != "live":
            # the PDS items resolve their batch by number among the item's batches; the dispensing rows
            # without a batch take the item's only batch (WARN AMBIGUOUS_REF) or wait in quarantine
            reasons = dict(conn.execute("""select reason_code, count(*) from ops.quarantine
                                           where target_table = 'pharmacy.dispenses' and resolved_at is null
                                           group by 1""").fetchall())
            if profile == "blueprint":  # the transform's own reasons (hostile rows add the engine's)
                assert set(reasons) <= {"ORPHAN_FK", "AMBIGUOUS_REF", "MISSING_VALUE", "ZERO_QTY", "ORPHAN_HEADER"}
            loaded = dict(conn.execute("""select legacy_table, count(*) from ops.legacy_id_map
                                          where canonical_table = 'pharmacy.dispenses' and disposition = 'LOADED'
                                          group by 1""").fetchall())
            assert loaded.get("prescription_dispensed_items", 0) > 0
            # a header is MERGED into the dispense of one of its items
            assert conn.execute("""select count(*) from ops.legacy_id_map m
                                   join pharmacy.dispenses d on d.dispense_id = m.canonical_id
                                   where m.canonical_table = 'pharmacy.dispenses'
                                     and m.legacy_table = 'prescription_dispensed'
                                     and m.disposition = 'MERGED'""").fetchone()[0] > 0
            if profile == "blueprint":
                # dispensed quantity per legacy row: conserved (the conservation check's identity)
                assert first["pharmacy/dispenses"]["rows_written"] == sum(loaded.values())
                assert conn.execute("""select count(*) from stg.prescription_dispensed_items s
                                       join ops.legacy_id_map m on m.canonical_table = 'pharmacy.dispenses'
                                        and m.legacy_table = 'prescription_dispensed_items' and m.legacy_key = s._key
                                       join pharmacy.dispenses d on d.dispense_id = m.canonical_id
                                       where d.qty <> s.quantity_dispensed""").fetchone()[0] == 0


def test_a_rerun_without_change_writes_nothing(generated):
    _, url, _, second, before = generated
    for asset in ASSETS:
        assert second[asset]["rows_written"] == 0, asset
        assert second[asset].get("rows_soft_deleted", 0) == 0, asset
    assert fingerprint(url) == before


# --- hand-made changes of generated legacy rows ----------------------------------------------------


@pytest.fixture(scope="module")
def handmade(pg_server_url):
    """Tiny blueprint data, backfilled; then lines changed by hand in legacy (the drug FK dropped, as
    a live database may have lost it) and backfilled again."""
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "rxhand")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile="blueprint")
        run(mp, url, suites=False)
        with psycopg.connect(url) as conn:
            conn.execute("""alter table public.prescription_items
                            drop constraint if exists prescription_items_medication_id_fkey""")
            # an item whose name (as matched) no other item has, with a strength in its name
            name, item = conn.execute(
                r"""select i.name, i.item_id from pharmacy.items i
                    where i.deleted_at is null and i.name ~* '[0-9] ?mg' and i.name ~ ' '
                      and (select count(distinct j.item_id) from pharmacy.items j
                           where j.deleted_at is null and pharmacy.match_name(j.name) = pharmacy.match_name(i.name)) = 1
                      and not exists (select 1 from stg.medications s join ops.legacy_id_map m
                                        on m.canonical_table = 'pharmacy.items' and m.legacy_table = 'medications'
                                       and m.legacy_key = s._key
                                      where m.canonical_id <> i.item_id
                                        and pharmacy.match_name(s.name) = pharmacy.match_name(i.name))
                    order by i.name limit 1""").fetchone()
            lines = [r[0] for r in conn.execute("select id from public.prescription_items order by id limit 3")]
            # other spacing, case and unit spacing: '  ACITROM   2 mg  tab '
            mangled = "  " + " ".join(w.upper() if n % 2 == 0 else w for n, w in enumerate(name.split())) \
                .replace(" ", "   ").replace("mg", " mg").replace("MG", " MG") + " "
            conn.execute("update public.prescription_items set medication_id = %s, medication_name = %s where id = %s",
                         (uuid.uuid4(), mangled, lines[0]))
            conn.execute("update public.prescription_items set medication_id = %s, medication_name = %s where id = %s",
                         (uuid.uuid4(), "Zzqx Nonexistent 5mg Tab", lines[1]))
            conn.execute("""update public.prescription_items set frequency = null,
                            instructions = 'Take regularly | Meal timing: after food | Frequency: 1-0-1' where id = %s""",
                         (lines[2],))
        mats = run(mp, url, suites=True)
        yield url, mats, item, lines
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def line_of(conn, legacy_id):
    return conn.execute("""select l.item_id, l.frequency, l.instructions from pharmacy.rx_lines l
                           join ops.legacy_id_map m on m.canonical_id = l.rx_line_id
                            and m.canonical_table = 'pharmacy.rx_lines' and m.legacy_key = %s
                           where l.deleted_at is null""", (str(legacy_id),)).fetchone()


def test_a_free_text_name_with_other_spacing_and_case_resolves_to_its_item(handmade):
    url, mats, item, lines = handmade
    with psycopg.connect(url) as conn:
        assert line_of(conn, lines[0])[0] == item
        row = candidates(conn, "rx_lines")[("prescription_items", str(lines[0]))]
    assert row["_reason"] is None and warns(row) == ["FREE_TEXT_REF", "ORPHAN_FK"]
    assert mats["pharmacy/rx_lines"]["warnings"]["FREE_TEXT_REF"] >= 1


def test_a_name_naming_no_item_loads_the_line_without_item_and_warns(handmade):
    url, mats, _, lines = handmade
    with psycopg.connect(url) as conn:
        assert line_of(conn, lines[1])[0] is None
        row = candidates(conn, "rx_lines")[("prescription_items", str(lines[1]))]
        assert conn.execute("select count(*) from ops.quarantine where legacy_key = %s and resolved_at is null",
                            (str(lines[1]),)).fetchone()[0] == 0
    assert row["_reason"] is None and warns(row) == ["ORPHAN_FK"]
    assert set(row["_detail"]) == {"warn", "warns", "item"}  # no value of the row


def test_the_frequency_part_of_instructions_fills_an_empty_frequency(handmade):
    url, _, _, lines = handmade
    with psycopg.connect(url) as conn:
        _, frequency, instructions = line_of(conn, lines[2])
    assert frequency == "1-0-1"
    assert instructions == "Take regularly | Meal timing: after food"  # meal timing has no column: kept
