"""pharmacy.batches and pharmacy.inventory_txns: batches in units, one immutable signed ledger whose
stock equals the legacy quantity on hand.

On generated data (blueprint, live and hostile profiles) against the generator's ground truth; the
ledger's immutability for an application role; a re-derivation without legacy change writing
nothing; and the legacy side moving under the ledger (a batch quantity changed without a ledger row,
a sale with its ledger row, a ledger row deleted)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors, sql

from backfill_helpers import failed_checks, fingerprint, materializations, prepare, run_backfill
from hms_pipeline.engine import conservation
from hms_pipeline.paths import sql_file

TARGETS = ["pharmacy.inventory_txns"]  # and everything upstream: items, batches, facilities, ...
LEDGERS = ("stock_transactions", "pharmacy_stock_transactions")
PARAMS = {"run_id": "test", "facility_name": "Test", "facility_tz": "Asia/Kolkata"}


def run(monkeypatch, url: str, *, suites: bool = True, full: bool = False):
    result = run_backfill(monkeypatch, url, targets=TARGETS, suites=suites, full=full)
    assert result.success, failed_checks(result)
    assert not failed_checks(result)
    return materializations(result)


def stock_by_legacy_batch(conn) -> dict[str, Decimal]:
    """Stock on hand ("view".stock_on_hand) per legacy '<medication id>|<batch number>' (the truth's
    key), non-zero entries only."""
    rows = conn.execute(
        """select coalesce(s.medication_id, s.medicine_id)::text || '|' || s.batch_number, sum(v.qty_on_hand)
           from "view".stock_on_hand v
           join ops.legacy_id_map m on m.canonical_table = 'pharmacy.batches' and m.canonical_id = v.batch_id
           join stg.medicine_batches s on s._key = m.legacy_key
           group by 1""").fetchall()
    return {k: v for k, v in rows if v != 0}


def legacy_on_hand(conn) -> dict[str, Decimal]:
    """The legacy quantity on hand in units, computed from the legacy tables as the generator's truth
    does (packs before 2026-02-27 times 'pack of N'), non-zero entries only."""
    rows = conn.execute(
        """select coalesce(mb.medication_id, mb.medicine_id)::text || '|' || mb.batch_number,
                  sum(mb.current_quantity * case when mb.received_date < date '2026-02-27'
                                                 then coalesce(substring(mb.notes from 'pack of ([0-9]+)')::int, 1) else 1 end)
           from public.medicine_batches mb
           where exists (select 1 from public.medications m where m.id = coalesce(mb.medication_id, mb.medicine_id))
           group by 1""").fetchall()
    return {k: Decimal(v) for k, v in rows if v != 0}


def view_matches_ledger(conn) -> bool:
    return conn.execute(
        """select not exists (
               (select facility_id, item_id, batch_id, sum(qty) from pharmacy.inventory_txns where deleted_at is null
                group by 1, 2, 3)
               except all
               (select facility_id, item_id, batch_id, qty_on_hand from "view".stock_on_hand))
           and not exists (
               (select facility_id, item_id, batch_id, qty_on_hand from "view".stock_on_hand)
               except all
               (select facility_id, item_id, batch_id, sum(qty) from pharmacy.inventory_txns where deleted_at is null
                group by 1, 2, 3))""").fetchone()[0]


def checks_hold(conn) -> dict[str, int]:
    """Run every conservation check of both tables: subjects per check (each must have no violation)."""
    from hms_pipeline.defs.pharmacy import SPECS

    out = {}
    for spec in SPECS:
        if spec.name in ("pharmacy.batches", "pharmacy.inventory_txns"):
            for result in conservation.run_checks(conn, spec):
                assert result.ok, result.summary()
                out[result.name] = result.subjects
    return out


def candidates(conn, table: str) -> dict:
    """The transform's rows (warnings are in _detail, which the engine does not store), keyed by
    (legacy table, legacy key); quarantine rows under their reason too."""
    with conn.transaction(force_rollback=True):
        cur = conn.execute(sql_file("pharmacy", f"{table}.sql").read_text(), PARAMS)
        cols = [d.name for d in cur.description]
        return {(r["_legacy_table"], r["_legacy_key"], r["_reason"]): r
                for r in (dict(zip(cols, row)) for row in cur.fetchall())}


def warned(cands: dict, code: str) -> set[tuple[str, str]]:
    return {(k[0], k[1]) for k, r in cands.items()
            if r["_reason"] is None and code in ((r["_detail"] or {}).get("warns") or [])}


def truth_keys(conn, tables: tuple[str, ...], reason: str) -> set[tuple[str, str]]:
    return set(conn.execute("select legacy_table, legacy_key from hms_truth.defects where legacy_table = any(%s) "
                            "and reason = %s and expected = 'LOAD_WITH_WARN'", (list(tables), reason)).fetchall())


def quarantined_keys(conn, target: str) -> set[tuple[str, str]]:
    return set(conn.execute("select legacy_table, legacy_key from ops.quarantine where target_table = %s "
                            "and resolved_at is null", (target,)).fetchall())


def ledger_rows(conn) -> dict[str, tuple]:
    """legacy key -> (legacy table, txn_type, qty, batch_id) of every live ledger row."""
    return {k: (lt, ty, q, b) for k, lt, ty, q, b in conn.execute(
        """select m.legacy_key, m.legacy_table, t.txn_type, t.qty, t.batch_id from pharmacy.inventory_txns t
           join ops.legacy_id_map m on m.canonical_table = 'pharmacy.inventory_txns' and m.canonical_id = t.txn_id
           where t.deleted_at is null""")}


# --- generated data ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["blueprint", "live"])
def generated(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "stock")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile=request.param)
        first = run(mp, url)
        yield request.param, url, first
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_stock_on_hand_is_the_truths_legacy_quantity_in_units(generated):
    _, url, first = generated
    with psycopg.connect(url) as conn:
        truth = {k: v for k, v in conn.execute(
            "select key, value from hms_truth.figures where name = 'stock_on_hand_units' and value <> 0").fetchall()}
        assert truth and stock_by_legacy_batch(conn) == truth
        assert view_matches_ledger(conn)  # refreshed at the end of the ledger's transaction
        # movements without a batch are balanced per item: they add nothing to stock
        assert conn.execute("""select count(*) from "view".stock_on_hand where batch_id is null and qty_on_hand <> 0"""
                            ).fetchone()[0] == 0
        subjects = checks_hold(conn)
        assert subjects["conservation_stock_per_batch"] >= len(truth)
        staged = conn.execute("select (select count(*) from stg.stock_transactions) "
                              "+ (select count(*) from stg.pharmacy_stock_transactions)").fetchone()[0]
        assert subjects["conservation_ledger_row_quantity"] == staged > 0
    assert first["pharmacy/inventory_txns"]["rows_written"] > first["pharmacy/batches"]["rows_written"] > 0


def test_quarantine_by_reason_is_the_truths(generated):
    profile, url, _ = generated
    with psycopg.connect(url) as conn:
        truth = {k: v for k, v in conn.execute(
            """select key, value from hms_truth.figures where name = 'quarantined_rows'
               and split_part(key, '|', 1) in ('medicine_batches', 'stock_transactions', 'pharmacy_stock_transactions')"""
        ).fetchall()}
        ours = dict(conn.execute(
            """select legacy_table || '|' || reason_code, count(distinct legacy_key) from ops.quarantine
               where target_table in ('pharmacy.batches', 'pharmacy.inventory_txns') and resolved_at is null
               group by 1""").fetchall())
        assert ours == truth
        assert {"medicine_batches|ORPHAN_FK", "stock_transactions|ZERO_QTY", "stock_transactions|UNKNOWN_BATCH"} <= set(truth)
        if profile == "live":  # the ghost ledger is absent live: staged empty, nothing from it
            assert conn.execute("select count(*) from stg.pharmacy_stock_transactions").fetchone()[0] == 0
        else:
            assert "pharmacy_stock_transactions|ZERO_QTY" in truth
        for (detail,) in conn.execute(
                "select detail from ops.quarantine where target_table in ('pharmacy.batches', 'pharmacy.inventory_txns')"):
            assert set(detail) <= {"column", "columns", "rule"}  # names and rules, never a value


def test_warnings_are_the_truths_defects(generated):
    _, url, _ = generated
    with psycopg.connect(url) as conn:
        batches, ledger = candidates(conn, "batches"), candidates(conn, "inventory_txns")
        held_b, held_l = quarantined_keys(conn, "pharmacy.batches"), quarantined_keys(conn, "pharmacy.inventory_txns")
        assert warned(batches, "PACKS_NOT_UNITS") == truth_keys(conn, ("medicine_batches",), "PACKS_NOT_UNITS") - held_b
        # one-sided drug keys and reused batch numbers
        assert warned(batches, "AMBIGUOUS_REF") == truth_keys(conn, ("medicine_batches",), "AMBIGUOUS_REF") - held_b
        for code in ("WRONG_SIGN", "PACKS_NOT_UNITS", "RECOMPUTED_TOTAL"):
            expected = truth_keys(conn, LEDGERS, code) - held_l
            assert expected and warned(ledger, code) == expected, code


def test_ledger_shape(generated):
    _, url, _ = generated
    with psycopg.connect(url) as conn:
        rows = ledger_rows(conn)
        loaded = {(lt, k) for k, (lt, *_ ) in rows.items() if lt in LEDGERS}
        staged = set(conn.execute("select 'stock_transactions', _key from stg.stock_transactions union all "
                                  "select 'pharmacy_stock_transactions', _key from stg.pharmacy_stock_transactions").fetchall())
        assert loaded == staged - quarantined_keys(conn, "pharmacy.inventory_txns")  # every legacy row, once
        # the sign follows the type: receipts in, dispenses and issues out; one opening per batch at most
        assert all(q > 0 for _, t, q, _ in rows.values() if t == "GRN")
        assert all(q < 0 for _, t, q, _ in rows.values() if t in ("DISPENSE", "ISSUE"))
        openings = [k for k in rows if k.endswith("#opening") and rows[k][0] == "medicine_batches"]
        assert len(openings) == len({rows[k][3] for k in openings}) > 0
        assert not [k for k in rows if "#adjust-" in k or "#correction-" in k]  # a first load has none
        # expired batches loaded through the bypass, each audited once
        expired = conn.execute("select count(*) from pharmacy.batches where expiry <= current_date").fetchone()[0]
        audited = conn.execute("select count(distinct pk) from ops.audit_log where action = 'EXPIRY_CHECK_BYPASSED' "
                               "and table_name = 'pharmacy.batches'").fetchone()[0]
        assert audited == expired > 0
        # units: every batch converted (the generator states every pack size)
        assert conn.execute("select count(*) from pharmacy.batches where unit <> 'unit' or pack_size is null").fetchone()[0] == 0


# --- a re-derivation without change, the ledger's immutability, the legacy side moving ----------


def _role_refused(url: str) -> list[str]:
    """An application role granted UPDATE and DELETE on the ledger tries both; returns the messages."""
    role = f"hms_app_{uuid.uuid4().hex[:8]}"
    messages = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        try:
            conn.execute(sql.SQL("grant usage on schema pharmacy to {r}; "
                                 "grant select, update, delete on pharmacy.inventory_txns to {r}").format(r=sql.Identifier(role)))
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            for statement in ("update pharmacy.inventory_txns set qty = qty + 1 where txn_type = 'GRN'",
                              "update pharmacy.inventory_txns set deleted_at = now()",
                              "delete from pharmacy.inventory_txns"):
                with pytest.raises(errors.RestrictViolation) as exc:
                    conn.execute(statement)
                messages.append(str(exc.value))
            conn.execute("reset role")
            with pytest.raises(errors.RestrictViolation):  # nor the owner: truncate
                conn.execute("truncate pharmacy.inventory_txns")
        finally:
            conn.execute("reset role")
            conn.execute(sql.SQL("drop owned by {r}; drop role {r}").format(r=sql.Identifier(role)))
    return messages


def _batch_with_only_its_opening(conn, units: bool = True):
    """(legacy batch id, batch_id) of a batch received in units (after the cut-over) whose only ledger
    row is its opening balance, with stock, a unique batch number and a drug the ledger can name."""
    return conn.execute(
        """select s._key, b.batch_id from pharmacy.batches b
           join ops.legacy_id_map m on m.canonical_table = 'pharmacy.batches' and m.canonical_id = b.batch_id
           join stg.medicine_batches s on s._key = m.legacy_key
           where (b.received_on >= date '2026-02-27') = %s and s.current_quantity > 10
             and s.medication_id is not null and s.medicine_id is not null
             and (select count(*) from pharmacy.inventory_txns t where t.batch_id = b.batch_id) = 1
             and (select count(*) from stg.medicine_batches x where x.batch_number = s.batch_number) = 1
           order by s._key limit 1""", (units,)).fetchone()


def _written(conn, table: str) -> int:
    return conn.execute("select written from etl.run_stats where canonical_table = %s order by recorded_at desc limit 1",
                        (table,)).fetchone()[0]


@pytest.fixture(scope="module")
def moving(pg_server_url):
    """A blueprint database loaded once, that the tests below change in turn (in file order); its
    pristine copy (DDL + legacy, never loaded) and the reviewer's decisions made on the way are kept
    for the last one (the same legacy rows loaded fresh)."""
    from conftest import create_database, drop_database
    from legacy_writes import clone

    url = create_database(pg_server_url, "stockmv")
    made = [url]
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile="blueprint")
        made.append(clone(pg_server_url, url, "stockpr"))
        run(mp, url, suites=False)
        yield mp, url, {"server": pg_server_url, "pristine": made[1], "decisions": []}
    finally:
        mp.undo()
        for db in made:
            drop_database(pg_server_url, db)


def _with_decisions(mp, decisions):
    """ref.codes runs its contributions plus these reviewer decision files."""
    from hms_pipeline.engine import scripted

    files = scripted.script_files
    mp.setattr(scripted, "script_files", lambda spec: [*files(spec), *decisions] if spec.name == "ref.codes" else files(spec))
    return files


def test_a_rederivation_without_change_writes_nothing(moving):
    mp, url, _ = moving
    before = fingerprint(url)
    mats = run(mp, url, suites=False, full=True)  # every table re-derived whole
    for table in ("pharmacy.batches", "pharmacy.inventory_txns"):
        assert mats[table.replace(".", "/")]["rows_unchanged"] > 0
        with psycopg.connect(url) as conn:
            assert _written(conn, table) == 0
    assert fingerprint(url) == before


def test_the_ledger_refuses_updates_and_deletes(moving):
    _, url, _ = moving
    with psycopg.connect(url) as conn:
        before = conn.execute("select count(*), sum(qty) from pharmacy.inventory_txns").fetchone()
        value = str(conn.execute("select qty from pharmacy.inventory_txns where txn_type = 'GRN' limit 1").fetchone()[0])
    messages = _role_refused(url)
    assert len(messages) == 3
    for message in messages:
        assert "pharmacy.inventory_txns" in message and "immutable" in message
        assert value not in message  # the rule, never a value
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*), sum(qty) from pharmacy.inventory_txns").fetchone() == before


def test_a_batch_quantity_changed_without_a_ledger_row_gives_one_adjust(moving):
    mp, url, _ = moving
    with psycopg.connect(url) as conn:
        key, batch = _batch_with_only_its_opening(conn)
        conn.execute("update public.medicine_batches set current_quantity = current_quantity - 7, updated_at = now() "
                     "where id = %s", (key,))
        before = ledger_rows(conn)
    mats = run(mp, url)
    with psycopg.connect(url) as conn:
        added = {k: v for k, v in ledger_rows(conn).items() if k not in before}
        assert added == {f"{key}#adjust-1": ("medicine_batches", "ADJUST", Decimal("-7.000"), batch)}
        assert stock_by_legacy_batch(conn) == legacy_on_hand(conn)
        assert view_matches_ledger(conn)
        checks_hold(conn)
    assert mats["pharmacy/inventory_txns"]["rows_written"] == 1


def test_a_legacy_sale_with_its_ledger_row_gives_that_row_and_no_adjust(moving):
    mp, url, _ = moving
    sale = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        key, batch = _batch_with_only_its_opening(conn)
        # a dispensing sale: positive quantity (Q10), unit price 0; the batch loses the 5 units
        conn.execute(
            """insert into public.stock_transactions (id, medication_id, transaction_type, quantity, unit_price,
                   total_amount, batch_number, notes, transaction_date, created_at)
               select %s, medication_id, 'sale', 5, 0, 0, batch_number, 'Dispensed for prescription RX000001',
                      now(), now()
               from public.medicine_batches where id = %s""", (sale, key))
        conn.execute("update public.medicine_batches set current_quantity = current_quantity - 5, updated_at = now() "
                     "where id = %s", (key,))
        before = ledger_rows(conn)
    mats = run(mp, url)
    with psycopg.connect(url) as conn:
        added = {k: v for k, v in ledger_rows(conn).items() if k not in before}
        assert added == {sale: ("stock_transactions", "DISPENSE", Decimal("-5.000"), batch)}
        assert stock_by_legacy_batch(conn) == legacy_on_hand(conn)
        assert view_matches_ledger(conn)
        checks_hold(conn)
        assert "WRONG_SIGN" in candidates(conn, "inventory_txns")[("stock_transactions", sale, None)]["_detail"]["warns"]
    assert mats["pharmacy/inventory_txns"]["rows_written"] == 1


def test_a_legacy_ledger_row_deleted_is_reversed_not_removed(moving):
    mp, url, _ = moving
    with psycopg.connect(url) as conn:
        key, qty, batch = conn.execute(
            """select m.legacy_key, t.qty, t.batch_id from pharmacy.inventory_txns t
               join ops.legacy_id_map m on m.canonical_table = 'pharmacy.inventory_txns' and m.canonical_id = t.txn_id
               where m.legacy_table = 'stock_transactions' and t.batch_id is not null and m.legacy_key !~ '#'
               order by m.legacy_key limit 1""").fetchone()
        conn.execute("delete from public.stock_transactions where id = %s", (key,))
        before = ledger_rows(conn)
    run(mp, url, suites=False)
    with psycopg.connect(url) as conn:
        rows = ledger_rows(conn)
        assert before.items() <= rows.items()  # nothing written is changed or removed
        added = {k: v for k, v in rows.items() if k not in before}
        # the movement is reversed; the batch's legacy quantity did not move, so the balance takes it back
        assert added[f"{key}#correction-1"] == ("stock_transactions", "ADJUST", -qty, batch)
        assert sum(v[2] for v in added.values()) == 0 and len(added) == 2
        assert stock_by_legacy_batch(conn) == legacy_on_hand(conn)
        checks_hold(conn)


def test_items_merged_and_a_batch_deleted_move_stock_without_touching_history(moving, tmp_path):
    """A reviewer merges two items the ledger holds stock of, and a legacy batch is deleted: the
    batches move to the surviving item / are soft-deleted, the ledger keeps its rows as written
    (naming the merged item, the deleted batch) and ADJUSTs move or zero the stock."""
    from hms_pipeline.engine import scripted

    mp, url, state = moving
    with psycopg.connect(url) as conn:
        merged, survivor, merged_item, survivor_item = conn.execute(
            """select a.legacy_key, b.legacy_key, a.canonical_id, b.canonical_id
               from ops.legacy_id_map a, ops.legacy_id_map b
               where a.canonical_table = 'pharmacy.items' and b.canonical_table = 'pharmacy.items'
                 and a.disposition = 'LOADED' and b.disposition = 'LOADED' and a.legacy_table = 'medications'
                 and b.legacy_table = 'medications' and a.canonical_id < b.canonical_id
                 and exists (select 1 from pharmacy.inventory_txns t where t.item_id = a.canonical_id and t.batch_id is not null)
                 and exists (select 1 from pharmacy.inventory_txns t where t.item_id = b.canonical_id)
               order by a.legacy_key, b.legacy_key limit 1""").fetchone()
        moved = conn.execute("""select sum(qty_on_hand) from "view".stock_on_hand where item_id = %s""", (merged_item,)).fetchone()[0]
        key, gone = _batch_with_only_its_opening(conn)
        conn.execute("delete from public.medicine_batches where id = %s", (key,))
        before = ledger_rows(conn)
    decision = tmp_path / "pharmacy_review_stock_test.sql"
    decision.write_text("insert into ref.codes (code, system, display) "
                        f"values ('{merged}', 'review:pharmacy.items', '{survivor}') on conflict (code, system) do nothing;\n")
    state["decisions"].append(decision)
    files = _with_decisions(mp, state["decisions"])
    try:
        mats = run(mp, url, suites=False)
    finally:
        mp.setattr(scripted, "script_files", files)
    assert mats["pharmacy/items"]["rows_soft_deleted"] == 1 and mats["pharmacy/batches"]["rows_soft_deleted"] == 1
    with psycopg.connect(url) as conn:
        rows = ledger_rows(conn)
        assert before.items() <= rows.items()  # history as written
        assert all(v[1] == "ADJUST" for k, v in rows.items() if k not in before)
        stock = dict(conn.execute("""select item_id, sum(qty_on_hand) from "view".stock_on_hand group by 1""").fetchall())
        assert stock.get(merged_item, 0) == 0 and moved != 0  # the merged item's stock moved to the survivor
        assert conn.execute("""select coalesce(sum(qty_on_hand), 0) from "view".stock_on_hand where batch_id = %s""",
                            (gone,)).fetchone()[0] == 0  # the deleted batch's stock is written off
        assert conn.execute("select deleted_at is not null from pharmacy.batches where batch_id = %s", (gone,)).fetchone()[0]
        assert stock_by_legacy_batch(conn) == legacy_on_hand(conn)
        assert view_matches_ledger(conn)
        checks_hold(conn)
        # still one item per legacy batch drug key: the surviving item holds the merged one's batches
        assert conn.execute("select count(*) from pharmacy.batches where item_id = %s and deleted_at is null",
                            (merged_item,)).fetchone()[0] == 0
        assert survivor_item in stock


def test_after_the_changes_the_balances_equal_a_fresh_load_of_the_same_legacy_rows(moving):
    """The ledger that lived through the changes above holds more rows than a fresh load (its
    corrections and adjustments: history is never rewritten) and exactly its balances; every other
    table equals the fresh load row by row."""
    from conftest import drop_database
    from legacy_writes import clone, copy_legacy

    from hms_pipeline.engine import scripted

    mp, url, state = moving
    fresh = clone(state["server"], state["pristine"], "stockfr")
    try:
        copy_legacy(url, fresh)
        files = _with_decisions(mp, state["decisions"])
        try:
            run(mp, fresh, suites=False)
        finally:
            mp.setattr(scripted, "script_files", files)
        assert fingerprint(url, ledgers_by_balance=True) == fingerprint(fresh, ledgers_by_balance=True)
        with psycopg.connect(url) as a, psycopg.connect(fresh) as b:
            lived, loaded = ledger_rows(a), ledger_rows(b)
            assert len(lived) > len(loaded)
            assert [k for k in loaded if "#correction-" in k or "#adjust-" in k] == []
            assert stock_by_legacy_batch(a) == stock_by_legacy_batch(b) == legacy_on_hand(b)
    finally:
        drop_database(state["server"], fresh)


# --- the hostile profile -------------------------------------------------------------------------


def test_hostile_profile_backfills_with_every_identity(pg_server_url, monkeypatch):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "stockhx")
    try:
        prepare(url, profile="hostile")
        mats = run(monkeypatch, url, suites=False)
        with psycopg.connect(url) as conn:
            subjects = checks_hold(conn)
            assert subjects["conservation_ledger_row_quantity"] > 0
            assert view_matches_ledger(conn)
            # every legacy row is loaded or quarantined (reconciliation passed: checked by run())
            reasons = dict(conn.execute(
                """select reason_code, count(*) from ops.quarantine where target_table = 'pharmacy.inventory_txns'
                   and resolved_at is null group by 1""").fetchall())
            assert {"ZERO_QTY", "MISSING_VALUE", "NULL_KEY", "DUPLICATE_LEGACY_KEY"} <= set(reasons)
            values = [r[0] for r in conn.execute(
                """select distinct d.detail ->> 'value' from hms_truth.defects d
                   where d.kind like 'HOSTILE%%' and d.legacy_table in ('medicine_batches', 'stock_transactions',
                         'pharmacy_stock_transactions')
                     and jsonb_typeof(d.detail -> 'value') = 'string' and length(d.detail ->> 'value') >= 6""")]
            details = " ".join(r[0] for r in conn.execute(
                """select detail::text from ops.quarantine
                   where target_table in ('pharmacy.batches', 'pharmacy.inventory_txns')"""))
            assert [v for v in values if v[:64] in details] == []
        assert mats["pharmacy/inventory_txns"]["warnings"].get("REFERENCE_LOOP", 0) >= 1  # a self-referencing transfer
    finally:
        drop_database(pg_server_url, url)
