"""core tables against the generator's ground truth (hms_truth), both legacy profiles."""

import psycopg
import pytest

from backfill_helpers import failed_checks, prepare, run_backfill

MERGE_KINDS = ("duplicate_patient", "patient_login", "scattered_person")


@pytest.fixture(scope="module", params=["blueprint", "live"])
def backfilled(request, pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "core")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile=request.param)
        result = run_backfill(mp, url)
        assert result.success, failed_checks(result)
        yield url
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_scattered_people_are_merged_as_the_truth_says(backfilled):
    with psycopg.connect(backfilled) as conn:
        rows = conn.execute(
            """select d.kind, d.legacy_table, d.legacy_key, m.disposition,
                      m.canonical_id = t.canonical_id as same_person
               from hms_truth.defects d
               left join ops.legacy_id_map m on m.legacy_table = d.legacy_table and m.legacy_key = d.legacy_key
                                            and m.canonical_table = 'core.persons'
               left join lateral (select t.canonical_id from ops.legacy_id_map t
                                  where t.legacy_key = split_part(d.expected, ':', 2) and t.canonical_table = 'core.persons'
                                  limit 1) t on true
               where d.kind = any(%s)""",
            (list(MERGE_KINDS),),
        ).fetchall()
    kinds = {r[0] for r in rows}
    assert kinds == set(MERGE_KINDS), "tiny scale seeds every merge kind"
    assert all(r[3] == "MERGED" and r[4] for r in rows), [r for r in rows if not (r[3] == "MERGED" and r[4])]


def test_duplicate_patients_share_one_patient_and_uhid(backfilled):
    with psycopg.connect(backfilled) as conn:
        legacy, patients, mapped = conn.execute(
            """select (select count(*) from stg.patients where not _deleted),
                      (select count(*) from core.patients where deleted_at is null),
                      (select count(distinct canonical_id) from ops.legacy_id_map
                       where legacy_table = 'patients' and canonical_table = 'core.patients')"""
        ).fetchone()
        duplicates = conn.execute("select count(*) from hms_truth.defects where kind = 'duplicate_patient'").fetchone()[0]
        assert patients == mapped == legacy - duplicates
        # every legacy patient (duplicates included) resolves to a live patient
        unresolved = conn.execute(
            """select count(*) from stg.patients s
               left join ops.legacy_id_map m on m.legacy_table = 'patients' and m.legacy_key = s._key
                                            and m.canonical_table = 'core.patients'
               left join core.patients p on p.patient_id = m.canonical_id and p.deleted_at is null
               where not s._deleted and p.patient_id is null"""
        ).fetchone()[0]
        assert unresolved == 0


def test_fabricated_identity_values_are_not_carried(backfilled):
    with psycopg.connect(backfilled) as conn:
        fabricated = conn.execute(
            """select count(*) from core.persons p
               where p.deleted_at is null and (p.email like '%%@annam.com' or p.first_name ilike 'patient')"""
        ).fetchone()[0]
        seeded = conn.execute(
            "select count(*) from hms_truth.defects where kind in ('fabricated_name', 'fabricated_email')"
        ).fetchone()[0]
    assert seeded > 0 and fabricated == 0


def test_every_staff_member_is_one_person_with_role(backfilled):
    with psycopg.connect(backfilled) as conn:
        no_role, dup_person = conn.execute(
            """select count(*) filter (where role_id is null),
                      count(*) - count(distinct person_id) from core.staff where deleted_at is null"""
        ).fetchone()
        doctors_without_staff = conn.execute(
            """select count(*) from stg.doctors d
               left join ops.legacy_id_map m on m.legacy_table = 'doctors' and m.legacy_key = d._key
                                            and m.canonical_table = 'core.staff'
               left join ops.quarantine q on q.legacy_table = 'doctors' and q.legacy_key = d._key
                                         and q.target_table = 'core.staff' and q.resolved_at is null
               where not d._deleted and m.legacy_key is null and q.legacy_key is null"""
        ).fetchone()[0]
    assert no_role == 0 and dup_person == 0 and doctors_without_staff == 0
