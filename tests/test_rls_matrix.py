"""Phase 5 row-level security (issue #14), live, on tiny blueprint data, on whichever server the suite
runs against (PostgreSQL 15 and the embedded 18 in CI).

After a backfill, ``security enable`` turns RLS on; the role matrix (role x table x verb x in/out of
scope, hms_pipeline.security.rls.MATRIX, the README's table) is then run for real: SET ROLE to each
role with the caller's staff id in ``hms.staff_id``, then with a simulated Supabase JWT claim
(``request.jwt.claims`` with ``staff_id``, and with only ``sub``: the caller's login). Every cell must
equal the matrix. The backfill still works with RLS on (the pipeline connects as the owner; nothing
is FORCEd). After ``cutover compat`` the compatibility views (security_invoker) give the same answers
for SELECT on patients and encounters, and an out-of-scope patient does not come back through the
archived legacy rows. The DDL stays idempotent with the roles and policies in place.
"""

from __future__ import annotations

import psycopg
import pytest

from backfill_helpers import prepare
from hms_pipeline.security import rls
from hms_pipeline.sqlrun import apply_ddl
from test_compat import Pipeline


def _explain(cells) -> str:
    diff = rls.differences(cells)
    return "\n".join(f"{c.identity} {c.role} {c.verb} {c.table} {c.scope}: expected {c.expected} got {c.actual} "
                     f"[{c.detail}]" for c in diff[:40]) + (f"\n... {len(diff)} in all" if len(diff) > 40 else "")


@pytest.fixture(scope="module")
def pipeline(pg_server_url):
    from conftest import create_database, drop_database

    url = create_database(pg_server_url, "p56rls")
    mp = pytest.MonkeyPatch()
    try:
        prepare(url, profile="blueprint")
        pipe = Pipeline(url, mp)
        assert pipe.delta()
        yield url, pipe
    finally:
        mp.undo()
        drop_database(pg_server_url, url)


def test_ddl_defines_policies_but_enables_nothing(pipeline):
    url, _ = pipeline
    with psycopg.connect(url) as conn:
        status = rls.rls_status(conn)
        assert status and not any(status.values())
        without = [t for t in rls.TABLES if not conn.execute(
            "select count(*) from pg_policy where polrelid = %s::regclass", (t,)).fetchone()[0]]
        assert without == []
        roles = dict(conn.execute("select rolname, rolinherit from pg_roles where rolname like 'hms\\_%'").fetchall())
        assert set(rls.ROLES) | {"hms_app", "hms_migrator"} <= set(roles)
        assert roles["hms_app"] is False  # must SET ROLE: no rights of its own


def test_every_cell_equals_the_matrix_through_set_role_and_a_jwt_claim(pipeline, monkeypatch, capsys):
    url, pipe = pipeline
    with psycopg.connect(url) as conn:
        enabled = rls.enable(conn)
        conn.commit()
        assert set(enabled) == set(rls.TABLES)
        assert all(rls.rls_status(conn).values())
        cells = rls.verify_matrix(conn)
    assert {c.identity for c in cells} == set(rls.IDENTITIES)
    for identity in rls.IDENTITIES:
        got = {(c.role, c.table, c.verb, c.scope) for c in cells if c.identity == identity}
        assert got == set(rls.MATRIX), identity
    assert rls.differences(cells) == [], _explain(cells)
    # both answers occur for every verb (the matrix is not trivially all-allowed or all-refused)
    for verb in rls.VERBS:
        assert {c.actual for c in cells if c.verb == verb} == {True, False}

    # the CLI says the same (exit 0), and enabling again does nothing
    from hms_pipeline.lib import security_cmd
    from hms_pipeline.settings import load_settings

    monkeypatch.setenv("HMS_DATABASE_URL", url)
    full = rls.verify_matrix
    monkeypatch.setattr(rls, "verify_matrix", lambda conn: full(conn, identities=("jwt_sub",)))  # time budget
    args = type("A", (), {"security_command": "status", "table": []})()
    assert security_cmd.run(args, load_settings()) == 0
    out = capsys.readouterr().out
    assert "0 differ" in out and "differs:" not in out
    args.security_command = "enable"
    assert security_cmd.run(args, load_settings()) == 0
    assert "nothing to enable" in capsys.readouterr().out

    # the pipeline is not filtered: a no-change backfill with RLS on succeeds
    assert pipe.delta()


def test_attending_doctor_and_claims_take_precedence(pipeline):
    """The encounter clause "attending_doctor_id = caller": a doctor sees an encounter of another
    facility that they attend, and its patient. When request.jwt.claims is set, hms.staff_id is not
    read: a request whose claims name no staff sees nothing, whatever the session setting says."""
    url, _ = pipeline
    with psycopg.connect(url) as conn:
        rls.enable(conn)
        conn.commit()
        with conn.transaction(force_rollback=True):
            fx = rls._insert_fixture(conn)
            doctor = fx.staff["hms_doctor"]
            patient = conn.execute("select patient_id from clinical.encounters where encounter_id = %s",
                                   (fx.keys["clinical.encounters"]["out"],)).fetchone()[0]
            enc = conn.execute("""insert into clinical.encounters (patient_id, type, start_at, attending_doctor_id,
                                  facility_id) values (%s, 'OPD', now(), %s, %s) returning encounter_id""",
                               (patient, doctor, fx.facility_out)).fetchone()[0]

            def seen(claims: str, staff: str) -> tuple[int, int]:
                with conn.transaction(force_rollback=True):
                    conn.execute("select set_config('request.jwt.claims', %s, true), "
                                 "set_config('hms.staff_id', %s, true)", (claims, staff))
                    conn.execute("set local role hms_doctor")
                    return conn.execute(
                        "select (select count(*) from clinical.encounters where encounter_id = %s), "
                        "(select count(*) from core.patients where patient_id = %s)", (enc, patient)).fetchone()

            assert seen("", str(doctor)) == (1, 1)
            assert seen('{"role": "hms_doctor"}', str(doctor)) == (0, 0)
            assert seen('{"role": "hms_doctor", "staff_id": "not-a-uuid"}', str(doctor)) == (0, 0)
            assert seen("", "not-a-uuid") == (0, 0)
            assert seen("", str(fx.staff["hms_nurse"])) == (0, 0)  # not the attending, other facility


def test_a_table_outside_the_matrix_is_refused(pipeline):
    url, _ = pipeline
    with psycopg.connect(url) as conn:
        with pytest.raises(ValueError, match="not a table of the RLS matrix"):
            rls.enable(conn, ["etl.stage_runs"])


def test_through_the_compatibility_views(pipeline):
    url, pipe = pipeline
    pipe.compat()
    with psycopg.connect(url) as conn:
        enabled = rls.enable(conn)
        conn.commit()
        assert "legacy_archive.patients" in enabled
        cells = rls.verify_matrix(conn, identities=("guc", "jwt"), tables=["core.patients"])
    views = [c for c in cells if c.table.startswith("public.")]
    assert {(c.role, c.table, c.verb, c.scope) for c in views if c.identity == "guc"} == set(rls.VIEW_MATRIX)
    assert rls.differences(cells) == [], _explain(cells)


def test_ddl_is_idempotent_with_roles_and_policies_in_place(fresh_db):
    query = """select coalesce(md5(string_agg(x, E'\\n' order by x)), '') from (
                 select format('%s %s %s %s %s %s', polrelid::regclass, polname, polcmd, polroles::regrole[],
                               pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) as x from pg_policy
                 union all select format('%s %s', oid::regclass, relacl) from pg_class
                  where relnamespace::regnamespace::text in ('core', 'clinical', 'inpatient', 'pharmacy', 'billing', 'ops', 'ref', 'view')
                 union all select format('%s %s %s', rolname, rolinherit, rolbypassrls) from pg_roles where rolname like 'hms\\_%'
                 union all select format('%s %s', roleid::regrole, member::regrole) from pg_auth_members
                  where roleid::regrole::text like 'hms\\_%') t"""
    with psycopg.connect(fresh_db) as conn:
        apply_ddl(conn)
        first = conn.execute(query).fetchone()[0]
        policies = conn.execute("select count(*) from pg_policy").fetchone()[0]
        apply_ddl(conn)
        assert conn.execute(query).fetchone()[0] == first
        assert conn.execute("select count(*) from pg_policy").fetchone()[0] == policies > 100
        assert not any(rls.rls_status(conn).values())
