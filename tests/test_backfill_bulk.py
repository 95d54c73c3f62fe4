"""The bulk write path (hms_pipeline/engine/bulk.py: indexes and foreign keys dropped, rows written,
then rebuilt and re-validated, id-map partitions detached and attached) gives exactly what the
row-by-row path gives, leaves the catalog as it was, and a kill inside it loses nothing.

The tiny data set is far below the production threshold, so these tests lower it with
HMS_BULK_MIN_ROWS: 1 sends every write of a first load the bulk way."""

from __future__ import annotations

import psycopg
from backfill_helpers import backfill_cli, failed_checks, fingerprint, materializations, prepare, run_backfill

SCHEMAS = ["core", "clinical", "inpatient", "pharmacy", "billing", "ref", "ops", "etl", "stg"]

CATALOG = """
select format('constraint %%s.%%s %%s validated=%%s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid),
              c.convalidated)
from pg_constraint c join pg_namespace n on n.oid = c.connamespace
where n.nspname = any(%(schemas)s) and c.conrelid <> 0
union all
select pg_get_indexdef(i.indexrelid)
from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
where n.nspname = any(%(schemas)s)
union all
select format('partition %%s %%s', c.oid::regclass, pg_get_expr(c.relpartbound, c.oid))
from pg_inherits h join pg_class c on c.oid = h.inhrelid
where h.inhparent = 'ops.legacy_id_map'::regclass
order by 1
"""


def catalog(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(CATALOG, {"schemas": SCHEMAS}).fetchall()]


def index_oid(url: str, name: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("select %s::regclass::oid", (name,)).fetchone()[0]


def test_bulk_first_load_equals_row_by_row(fresh_db, make_db, monkeypatch):
    prepare(fresh_db)
    before = index_oid(fresh_db, "clinical.idx_vitals_encounter_id")
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", "1")
    result = run_backfill(monkeypatch, fresh_db)
    assert result.success, failed_checks(result)
    assert not failed_checks(result)
    # the bulk path really ran: the FK index of clinical.vitals was dropped and built again
    assert index_oid(fresh_db, "clinical.idx_vitals_encounter_id") != before

    rowwise = make_db("rowwise")
    prepare(rowwise)
    before = index_oid(rowwise, "clinical.idx_vitals_encounter_id")
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", str(10**9))
    assert run_backfill(monkeypatch, rowwise).success
    assert index_oid(rowwise, "clinical.idx_vitals_encounter_id") == before

    assert fingerprint(fresh_db) == fingerprint(rowwise)
    assert catalog(fresh_db) == catalog(rowwise)

    # the bulk-loaded tables take a no-change run like any other: nothing written
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", "1")
    again = run_backfill(monkeypatch, fresh_db)
    assert again.success
    assert len(materializations(again)) > 20
    with psycopg.connect(fresh_db) as conn:
        written = dict(conn.execute("select canonical_table, written + soft_deleted from etl.run_stats where run_id = %s",
                                    (again.run_id,)).fetchall())
    assert len(written) > 20 and set(written.values()) == {0}, written

    # a --full re-run reads every row again but writes none of them: it stays row by row (the
    # indexes are not rebuilt) and changes nothing
    rebuilt = index_oid(fresh_db, "clinical.idx_vitals_encounter_id")
    full = run_backfill(monkeypatch, fresh_db, full=True)
    assert full.success, failed_checks(full)
    assert index_oid(fresh_db, "clinical.idx_vitals_encounter_id") == rebuilt
    assert fingerprint(fresh_db) == fingerprint(rowwise)


def test_a_kill_inside_a_bulk_write_rolls_the_dropped_indexes_back(fresh_db, make_db, pg_server_url, tmp_path,
                                                                   monkeypatch):
    """SIGKILL while clinical.vitals has its foreign key and index dropped: the database still has
    them (the DROPs were in the killed transaction) and the next run ends where a clean run ends."""
    prepare(fresh_db)
    with backfill_cli(fresh_db, pg_server_url, tmp_path, HMS_BULK_MIN_ROWS="1") as cli:
        killed = cli(HMS_FAULT_KILL_AFTER="clinical.vitals:bulk")
        assert killed.returncode == -9, killed.stdout + killed.stderr
        with psycopg.connect(fresh_db) as conn:
            assert conn.execute("select count(*) from clinical.vitals").fetchone() == (0,)
            assert conn.execute("select count(*) from clinical.encounters").fetchone()[0] > 0
            assert conn.execute("""select count(*) from pg_constraint
                                   where conrelid = 'clinical.vitals'::regclass and contype = 'f'""").fetchone() == (1,)
            assert conn.execute("select to_regclass('clinical.idx_vitals_encounter_id') is not null").fetchone() == (True,)
        resumed = cli()
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    clean = make_db("clean")
    prepare(clean)
    monkeypatch.setenv("HMS_BULK_MIN_ROWS", "1")
    assert run_backfill(monkeypatch, clean).success
    assert fingerprint(fresh_db) == fingerprint(clean)
    assert catalog(fresh_db) == catalog(clean)
