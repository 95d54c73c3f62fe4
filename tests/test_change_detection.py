"""Changes a watermark never sees are picked up by the next delta (HMS_CHANGE_DETECTION=sweep,
the default): a backdated insert, an update that keeps updated_at, and a delete plus an insert that
keeps the count. Each delta then equals a fresh full load of the same legacy data."""

from __future__ import annotations

import psycopg

from backfill_helpers import fingerprint, prepare, run_backfill

BACKDATED = "2020-01-01 00:00+00"
NEW_VITAL = "00000000-0000-0000-0000-0000000b1a11"


def _equals_a_fresh_load(url, make_db, monkeypatch):
    fresh = make_db("fresh")
    prepare(fresh)  # same generated base (same seed) ...
    with psycopg.connect(url) as src, psycopg.connect(fresh) as dst:  # ... then the same legacy rows
        dst.execute("set session_replication_role = replica")  # rows copied table by table: no FK order
        for (table,) in src.execute("""select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                       where n.nspname = 'public' and c.relkind = 'r'""").fetchall():
            dst.execute(f'truncate public."{table}" cascade')
        for (table,) in src.execute("""select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                       where n.nspname = 'public' and c.relkind = 'r'""").fetchall():
            with src.cursor().copy(f'copy public."{table}" to stdout (format binary)') as out, \
                    dst.cursor().copy(f'copy public."{table}" from stdin (format binary)') as into:
                for chunk in out:
                    into.write(chunk)
        dst.commit()
    assert run_backfill(monkeypatch, fresh, suites=False).success
    return fingerprint(fresh)


def test_changes_no_watermark_sees_are_picked_up(fresh_db, make_db, monkeypatch):
    prepare(fresh_db)
    assert run_backfill(monkeypatch, fresh_db, suites=False).success
    with psycopg.connect(fresh_db) as conn:
        # an update that keeps updated_at (the legacy tables have no trigger for it)
        pid, before = conn.execute(
            """select id, updated_at from patients where name !~* '^patient\\s' order by patient_id limit 1""").fetchone()
        conn.execute("update patients set name = 'Kept Stamp' where id = %s", (pid,))
        # a backdated insert: a vital recorded (and stamped) long before the watermark
        vid, enc, pat, by = conn.execute(
            "select id, encounter_id, patient_id, recorded_by from vitals order by id limit 1").fetchone()
        conn.execute(
            """insert into vitals (id, patient_id, encounter_id, recorded_by, heart_rate, recorded_at, created_at, updated_at)
               values (%s, %s, %s, %s, 77, %s, %s, %s)""", (NEW_VITAL, pat, enc, by, BACKDATED, BACKDATED, BACKDATED))
        # a delete hidden by an insert that keeps the count: the backdated vital above replaces this one
        conn.execute("delete from vitals where id = %s", (vid,))
        assert conn.execute("select updated_at from patients where id = %s", (pid,)).fetchone()[0] == before

    delta = run_backfill(monkeypatch, fresh_db, suites=False)
    assert delta.success
    with psycopg.connect(fresh_db) as conn:
        name = conn.execute(
            """select p.first_name, p.last_name from core.persons p join core.patients c on c.person_id = p.person_id
               join ops.legacy_id_map m on m.canonical_id = c.patient_id and m.canonical_table = 'core.patients'
               where m.legacy_table = 'patients' and m.legacy_key = %s""", (str(pid),)).fetchone()
        assert name == ("Kept", "Stamp")
        live = dict(conn.execute(
            """select m.legacy_key, v.deleted_at is null from ops.legacy_id_map m
               join clinical.vitals v on v.vital_id = m.canonical_id
               where m.canonical_table = 'clinical.vitals' and m.legacy_table = 'vitals'
                 and split_part(m.legacy_key, '#', 1) = any(%s)""", ([NEW_VITAL, str(vid)],)).fetchall())
        assert any(k.startswith(NEW_VITAL) and alive for k, alive in live.items())
        assert live and not any(k.startswith(str(vid)) and alive for k, alive in live.items())
    assert fingerprint(fresh_db) == _equals_a_fresh_load(fresh_db, make_db, monkeypatch)
