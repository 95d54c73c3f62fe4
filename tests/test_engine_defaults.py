"""A legacy clock past year 9999 (a watermark Python's datetime cannot hold) does not stop the
snapshot, and a legacy row without created_at is accounted for (quarantined NULL_VIOLATION by the
pre-flight: created_at is NOT NULL in the canonical schema)."""

from __future__ import annotations

import psycopg

from backfill_helpers import prepare, run_backfill


def test_year_10000_watermark_and_null_created_at(fresh_db, monkeypatch):
    prepare(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        dept = conn.execute("select id from departments order by id limit 1").fetchone()[0]
        conn.execute("alter table departments alter column created_at drop not null")
        conn.execute("update departments set created_at = null where id = %s", (dept,))
        conn.execute("update departments set updated_at = timestamptz '10000-01-01 00:00+00' where id <> %s", (dept,))
    result = run_backfill(monkeypatch, fresh_db, targets=["core.departments"], suites=False)
    assert result.success
    with psycopg.connect(fresh_db) as conn:
        reasons = [r[0] for r in conn.execute(
            """select reason_code from ops.quarantine where target_table = 'core.departments'
               and legacy_key = %s and resolved_at is null""", (str(dept),)).fetchall()]
        assert reasons == ["NULL_VIOLATION"]
