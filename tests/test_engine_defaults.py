"""A legacy row without created_at loads (the canonical column's default), rather than going to
quarantine for a bookkeeping timestamp; the legacy watermark of a table whose clock says year 10000
does not stop the snapshot."""

from __future__ import annotations

import psycopg

from backfill_helpers import prepare, run_backfill


def test_null_created_at_loads_with_the_default(fresh_db, monkeypatch):
    prepare(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        dept = conn.execute("select id from departments order by id limit 1").fetchone()[0]
        conn.execute("update departments set created_at = null where id = %s", (dept,))
        conn.execute("update departments set updated_at = timestamptz '10000-01-01 00:00+00' where id <> %s", (dept,))
    result = run_backfill(monkeypatch, fresh_db, targets=["core.departments"], suites=False)
    assert result.success
    with psycopg.connect(fresh_db) as conn:
        loaded = conn.execute(
            """select d.created_at is not null from ops.legacy_id_map m
               join core.departments d on d.department_id = m.canonical_id and d.deleted_at is null
               where m.canonical_table = 'core.departments' and m.legacy_table = 'departments' and m.legacy_key = %s""",
            (str(dept),)).fetchone()
        assert loaded == (True,)
        assert conn.execute("""select count(*) from ops.quarantine where target_table = 'core.departments'
                               and legacy_key = %s and resolved_at is null""", (str(dept),)).fetchone()[0] == 0
