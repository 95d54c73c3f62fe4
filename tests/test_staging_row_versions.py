"""The same-database sweep hashes only legacy rows with a new row version (xmin), and misses nothing.

Staging is called directly (no Dagster) on generated tiny legacy data: after a snapshot every staged
row remembers its legacy row version; an UPDATE that changes nothing (a touch), an UPDATE that keeps
``updated_at``, an INSERT backdated before the watermark and a DELETE each write a new version (or
remove one), and the next snapshot finds exactly the changed ones."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql
import pytest

from backfill_helpers import prepare
from hms_pipeline.engine.staging import Guard, stage_same_database

TABLES = ["departments", "patients"]


def _stage(url: str, detection: str = "sweep", full: bool = False) -> dict:
    with psycopg.connect(url) as conn:
        result = stage_same_database(conn, "public", TABLES, f"run-{uuid.uuid4().hex[:8]}", full=full,
                                     guard=Guard(change_detection=detection))
    return result.tables


def _unversioned(url: str, table: str) -> int:
    """Staged live rows whose recorded row version is not the legacy row's current xmin."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("""select count(*) from {} s join {} l on l.id::text = s._key
                                        where not s._deleted and s._xmin is distinct from l.xmin::text::bigint""")
                            .format(sql.Identifier("stg", table), sql.Identifier("public", table))).fetchone()[0]


@pytest.mark.parametrize("detection", ["sweep", "hash"])
def test_each_kind_of_change_is_found_and_only_those(fresh_db, detection):
    prepare(fresh_db)
    _stage(fresh_db, detection)
    assert _unversioned(fresh_db, "patients") == 0  # the first load records every row's version
    again = _stage(fresh_db, detection)
    assert {t: (r["changed"], r["deleted"]) for t, r in again.items()} == {"departments": (0, 0), "patients": (0, 0)}
    with psycopg.connect(fresh_db) as conn:
        ids = [r[0] for r in conn.execute("select id from patients order by id limit 3").fetchall()]
        conn.execute("update patients set name = name where id = %s", (ids[0],))  # a touch: new version, same content
        conn.execute("update patients set phone = '9000000000' where id = %s", (ids[1],))  # updated_at kept
        conn.execute("""insert into patients (id, patient_id, name, phone, created_at, updated_at)
                        values (gen_random_uuid(), 'BACKDATED-1', 'Backdated Person', '9000000002',
                                timestamptz '2001-01-01', timestamptz '2001-01-01')""")
        conn.execute("set session_replication_role = replica")  # a delete the legacy app's FKs would refuse
        conn.execute("delete from patients where id = %s", (ids[2],))
        conn.execute("insert into departments (id, name) select gen_random_uuid(), 'Delta Department'")
    changed = _stage(fresh_db, detection)
    assert (changed["patients"]["changed"], changed["patients"]["deleted"]) == (2, 1)
    assert (changed["departments"]["changed"], changed["departments"]["deleted"]) == (1, 0)
    if detection == "sweep":
        # the touched row's new version is remembered: the next snapshot does not hash it again
        assert _unversioned(fresh_db, "patients") == 0
    assert {t: r["changed"] for t, r in _stage(fresh_db, detection).items()} == {"departments": 0, "patients": 0}


def test_a_full_refresh_hashes_every_row_and_finds_an_edit_that_kept_the_version(fresh_db):
    """The safety net: a staged row whose content was altered behind the engine's back with its
    recorded version unchanged (here: the staged copy edited) is found by --full, which hashes
    every row, and not by the narrowed sweep."""
    prepare(fresh_db)
    _stage(fresh_db)  # every staged row carries its row version
    with psycopg.connect(fresh_db) as conn:
        conn.execute("update stg.departments set _hash = md5('stale') where _key = (select min(_key) from stg.departments)")
    assert _stage(fresh_db)["departments"]["changed"] == 0
    assert _stage(fresh_db, full=True)["departments"]["changed"] == 1
