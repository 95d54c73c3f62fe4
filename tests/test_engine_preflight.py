"""The constraint pre-flight (hms_pipeline/engine/preflight.py): rows the database would refuse are
quarantined with a reason code and the constraint's name before the write, the rest of the table
loads, and no value of a row reaches ops.quarantine.detail or an error."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from hms_pipeline.engine import preflight, steps
from hms_pipeline.engine.errors import TransformError
from hms_pipeline.engine.reconcile import reconcile
from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.engine.transform import apply_table

try:
    from hms_pipeline.sqlrun import apply_ddl
except ImportError:  # before the move out of hms_pipeline.lib
    from hms_pipeline.lib.sqlrun import apply_ddl

RUN = "run-preflight"


def uid(key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, key)


# --- the checks alone, on a hand-built table ------------------------------------------------------

ITEMS_DDL = """
create schema pf;
create table pf.parent (id int primary key, deleted_at timestamptz);
insert into pf.parent values (1, null), (2, now());
create table pf.items (
    id int primary key,
    code varchar(5) not null,
    qty numeric(5,2) check (qty > 0),
    price numeric(6,2),
    total numeric(7,2) generated always as (qty * price) stored,
    parent_id int references pf.parent (id),
    up_id int references pf.items (id),
    email text,
    kind text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz,
    constraint items_total_check check (total < 10000),
    constraint items_audit_check check (created_by is not null)
);
create unique index items_email_lower on pf.items (lower(email)) where kind = 'A';
insert into pf.items (id, code, email, kind, created_by, deleted_at) values (100, 'old', 'held@x', 'A', 'x', now());
"""

# id, code, qty, price, parent_id, up_id, email, kind, legacy key, disposition
ITEMS = [
    (1, "abc", 1, 2, 1, None, "x@y", "A", "k01", "LOADED"),  # fine
    (2, "abcdefg", 1, 2, None, None, None, None, "k02", "LOADED"),  # longer than varchar(5)
    (3, None, 1, 2, None, None, None, None, "k03", "LOADED"),  # NOT NULL
    (4, "d", 0, 2, None, None, None, None, "k04", "LOADED"),  # CHECK qty > 0
    (4, "d", 1, 2, None, None, None, None, "k04b", "MERGED"),  # merged into k04: refused with it
    (5, "e", 1000, 1, None, None, None, None, "k05", "LOADED"),  # beyond numeric(5,2)
    (6, "f", 1, 1, 99, None, None, None, "k06", "LOADED"),  # no parent
    (7, "g", 1, 1, 2, None, None, None, "k07", "LOADED"),  # parent soft-deleted
    (8, "h", 1, 1, None, 1, None, None, "k08", "LOADED"),  # self-reference to a row of this write
    (9, "i", 1, 1, None, 50, None, None, "k09", "LOADED"),  # self-reference to nothing
    (10, "j", 1, 1, None, None, "X@Y", "A", "k10", "LOADED"),  # lower(email) taken by k01
    (11, "k", 1, 1, None, None, "x@y", "B", "k11", "LOADED"),  # outside the partial index
    (12, "l", 500, 9999, None, None, None, None, "k12", "LOADED"),  # total: overflow and CHECK
    (13, "m", 1, 1, None, None, "HELD@x", "A", "k13", "LOADED"),  # held by a (soft-deleted) target row
    (15, "o", 1, 1, None, None, None, "Z", "k15", "LOADED"),  # suite rule: kind
    (16, "p", 1, 1, None, None, "an evil one", "B", "k16", "LOADED"),  # suite rule with a '%'
    (17, "q", 1, 1, None, None, None, None, "k17", "LOADED"),  # fine
]

RULES = [
    ("kind known", "kind not in ('A', 'B')", {"kind"}),
    ("not evil", "email like '%evil%'", {"email"}),
    ("broken", "no_such_column > 1"),  # cannot be evaluated: left out, named
    ("reads a column the write lacks", "updated_at is null", {"updated_at"}),  # not applicable
]


@pytest.fixture
def conn(fresh_db):
    with psycopg.connect(fresh_db) as c:
        apply_ddl(c)
        c.execute(ITEMS_DDL)
        c.commit()
        yield c


def load_items(conn):
    conn.execute("""create temp table _cand (id int, code text, qty numeric, price numeric, parent_id int, up_id int,
                    email text, kind text, _legacy_table text, _legacy_key text, _disposition text, _reason text,
                    _detail jsonb) on commit drop""")
    for row in ITEMS:
        conn.execute("insert into _cand values (%s, %s, %s, %s, %s, %s, %s, %s, 'items', %s, %s, null, null)", row)


def reasons(conn) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set] = {}
    for key, reason, detail in conn.execute("select _legacy_key, _reason, _detail from _cand where _reason is not null"):
        name = detail.get("constraint") or detail.get("expectation")
        out.setdefault(key, set()).add((reason, name))
    return out


def test_every_kind_of_violation_is_refused_with_its_reason_and_constraint(conn):
    load_items(conn)
    t = steps.describe(conn, "pf.items")
    steps.disposition(conn, t)
    result = preflight.preflight(conn, t, RULES)
    got = reasons(conn)
    assert got == {
        "k02": {("UNPARSEABLE_VALUE", "character varying(5)")},
        "k03": {("NULL_VIOLATION", "items_code_not_null")},
        "k04": {("CHECK_VIOLATION", "items_qty_check")},
        "k04b": {("CHECK_VIOLATION", "items_qty_check")},
        "k05": {("UNPARSEABLE_VALUE", "numeric(5,2)")},
        "k06": {("ORPHAN_FK", "items_parent_id_fkey")},
        "k07": {("ORPHAN_FK", "items_parent_id_fkey")},
        "k09": {("ORPHAN_FK", "items_up_id_fkey")},
        "k10": {("DUPLICATE_KEY", "items_email_lower")},
        "k12": {("UNPARSEABLE_VALUE", "numeric(7,2)"), ("CHECK_VIOLATION", "items_total_check")},
        "k13": {("DUPLICATE_KEY", "items_email_lower")},
        "k15": {("SUITE_RULE", "kind known")},
        "k16": {("SUITE_RULE", "not evil")},
    }
    assert result.rule_errors == ["broken"]
    assert result.quarantined == {"CHECK_VIOLATION": 3, "DUPLICATE_KEY": 2, "NULL_VIOLATION": 1, "ORPHAN_FK": 3,
                                  "SUITE_RULE": 2, "UNPARSEABLE_VALUE": 3}
    assert {r[0] for r in conn.execute("select _legacy_key from _ok")} == {"k01", "k08", "k11", "k17"}

    details = dict(conn.execute("select _legacy_key, _detail from _cand where _reason is not null and _legacy_key in ('k04b', 'k10', 'k13')").fetchall())
    assert details["k04b"]["survivor_quarantined"] == {"legacy_table": "items", "legacy_key": "k04"}
    assert details["k10"]["survivor"] == {"legacy_table": "items", "legacy_key": "k01"}
    assert details["k13"]["survivor"]["canonical_id"] == "100"
    # no value of a row in any detail
    text = json.dumps([r[0] for r in conn.execute("select _detail from _cand where _reason is not null")])
    for value in ("abcdefg", "X@Y", "HELD@x", "an evil one", "1000", "9999"):
        assert value not in text
    # what is left loads: the write (no pre-flight miss) succeeds
    steps.upsert(conn, t, 4)
    assert {r[0] for r in conn.execute("select id from pf.items where id < 100")} == {1, 8, 11, 17}
    conn.rollback()


def test_nothing_to_write_is_no_work(conn):
    load_items(conn)
    conn.execute("delete from _cand")
    t = steps.describe(conn, "pf.items")
    steps.disposition(conn, t)
    assert preflight.preflight(conn, t, RULES).quarantined == {}
    conn.rollback()


def test_nulls_do_not_conflict_unless_nulls_not_distinct(conn):
    if conn.info.server_version < 150000:
        pytest.skip("NULLS NOT DISTINCT is PostgreSQL 15+")
    conn.execute("create table pf.nnd (id int primary key, a text, b text, unique nulls not distinct (a, b))")
    conn.execute("create table pf.nd (id int primary key, a text, b text, unique (a, b))")
    conn.commit()
    for table, expected in (("pf.nnd", {"k2"}), ("pf.nd", set())):
        conn.execute("""create temp table _cand on commit drop as
                        select * from (values (1, 'x', null, 'l', 'k1'), (2, 'x', null, 'l', 'k2')) as v
                               (id, a, b, _legacy_table, _legacy_key)""")
        conn.execute("alter table _cand add _disposition text default 'LOADED', add _reason text, add _detail jsonb")
        t = steps.describe(conn, table)
        steps.disposition(conn, t)
        preflight.preflight(conn, t)
        assert {k for k, in conn.execute("select _legacy_key from _cand where _reason = 'DUPLICATE_KEY'")} == expected
        conn.rollback()


def test_the_earliest_row_keeps_a_duplicate_key(conn):
    """Survivor rule: the earliest created_at keeps a repeated unique value whatever the keys (a
    later registration repeating a UHID is refused, even when its key sorts first); NULL created_at
    comes last; equal created_at falls back to the lowest legacy key."""
    conn.execute("create table pf.reg (id int primary key, uhid text unique, created_at timestamptz)")
    conn.commit()
    conn.execute("""create temp table _cand on commit drop as
                    select * from (values
                        (1, 'U1', timestamptz '2024-01-02', 'l', 'a-later'),
                        (2, 'U1', timestamptz '2024-01-01', 'l', 'z-first'),
                        (3, 'U2', null, 'l', 'a-undated'),
                        (4, 'U2', timestamptz '2024-05-01', 'l', 'z-dated'),
                        (5, 'U3', timestamptz '2024-01-01', 'l', 'b-tie'),
                        (6, 'U3', timestamptz '2024-01-01', 'l', 'a-tie')) as v
                           (id, uhid, created_at, _legacy_table, _legacy_key)""")
    conn.execute("alter table _cand add _disposition text default 'LOADED', add _reason text, add _detail jsonb")
    t = steps.describe(conn, "pf.reg")
    steps.disposition(conn, t)
    preflight.preflight(conn, t)
    refused = dict(conn.execute("select _legacy_key, _detail->'survivor'->>'legacy_key' from _cand "
                                "where _reason = 'DUPLICATE_KEY'").fetchall())
    assert refused == {"a-later": "z-first", "a-undated": "z-dated", "b-tie": "a-tie"}
    conn.rollback()


def test_catalog_is_read_not_listed(conn):
    cat = preflight.read_catalog(conn, "pf.items")
    assert {c.name for c in cat.checks} == {"items_qty_check", "items_total_check", "items_audit_check"}
    assert {f.name for f in cat.foreign_keys} == {"items_parent_id_fkey", "items_up_id_fkey"}
    [index] = cat.uniques
    assert index.name == "items_email_lower" and index.keys == ("lower(email)",) and "kind" in index.predicate
    assert cat.columns["total"].generated and set(cat.columns["total"].generation_uses) == {"qty", "price"}
    conn.rollback()


# --- apply_table end to end, on core.users --------------------------------------------------------

USERS_TRANSFORM = """
select etl.canonical_id('core.users', 'test_users', coalesce(s.merge_into, s._key)) as user_id,
       s.email,
       s.person_id::uuid as person_id,
       'test_users'::text as _legacy_table,
       s._key as _legacy_key,
       case when s.merge_into is null then 'LOADED' else 'MERGED' end as _disposition,
       null::text as _reason,
       null::jsonb as _detail
from stg.test_users as s
join _todo as t on t.legacy_table = 'test_users' and t.key = s._key
where not s._deleted
"""

P1, P2, GONE = uid("person-1"), uid("person-2"), uid("no-such-person")
SECRETS = ("alice@example.org", "bob@example.org", "eve@evil.test", "carol@example.org", "dave@example.org")
# key, email, person, merge_into
USERS = [
    ("u01", "alice@example.org", P1, None),  # loads; survivor of alice
    ("u02", "alice@example.org", P2, None),  # DUPLICATE_KEY (users_email_key), survivor u01
    ("u03", None, P1, None),  # NULL_VIOLATION (email not null)
    ("u04", "bob@example.org", GONE, None),  # ORPHAN_FK (users_person_id_fkey)
    ("u05", "eve@evil.test", P1, None),  # SUITE_RULE
    ("u06", None, P2, None),  # NULL_VIOLATION ...
    ("u07", "dave@example.org", P2, "u06"),  # ... and u07, merged into it, with it
    ("u08", "carol@example.org", P2, None),  # DUPLICATE_KEY: a soft-deleted core.users row holds it
    ("u09", "dave@example.org", P1, None),  # loads (u07's e-mail is a MERGED row's: never written)
]
USER_RULES = [("email at example.org", r"email !~ '@example[.]org$'", {"email"})]


def users_setup(url, tmp_path, rows=USERS):
    path = tmp_path / "users.sql"
    path.write_text(USERS_TRANSFORM)
    with psycopg.connect(url) as conn:
        apply_ddl(conn)
        conn.execute("""create table stg.test_users (_key text primary key, _hash text, _change_seq bigint,
                        _deleted boolean not null default false, email text, person_id text, merge_into text)""")
        for key, email, person, merge_into in rows:
            conn.execute("insert into stg.test_users values (%s, 'h', 1, false, %s, %s, %s)",
                         (key, email, str(person), merge_into))
        conn.execute("""insert into etl.stage_runs (run_id, mode, full_refresh, snapshot_seq, tables_staged,
                        rows_changed, rows_deleted, started_at) values (%s, 'same-database', false, 1, 1, 9, 0, now())""",
                     (RUN,))
        conn.execute("insert into core.persons (person_id) values (%s), (%s)", (P1, P2))
        held = uid("held-user")
        conn.execute("""insert into core.users (user_id, email, person_id, deleted_at)
                        values (%s, 'carol@example.org', %s, now())""", (held, P1))
        conn.execute("select etl.id_map_partition('core.users')")
        conn.execute("""insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id,
                        disposition, run_id) values ('test_users', 'z9', 'core.users', %s, 'LOADED', 'old')""", (held,))
    return TableSpec("core", "users", sources=(Source("test_users"),), transform_path=path)


def test_apply_table_quarantines_violators_and_loads_the_rest(fresh_db, tmp_path):
    spec = users_setup(fresh_db, tmp_path)
    with psycopg.connect(fresh_db) as conn:
        stats = apply_table(conn, spec, RUN, row_rules=USER_RULES)
        assert stats.preflight == {"DUPLICATE_KEY": 2, "NULL_VIOLATION": 3, "ORPHAN_FK": 1, "SUITE_RULE": 1}
        assert stats.preflight_seconds >= 0 and "preflight" in stats.step_seconds
        assert (stats.candidates, stats.written, stats.merged) == (2, 2, 0)
        loaded = conn.execute("""select m.legacy_key from core.users u join ops.legacy_id_map m
                                 on m.canonical_id = u.user_id and m.canonical_table = 'core.users'
                                 where u.deleted_at is null order by 1""").fetchall()
        assert [k for k, in loaded] == ["u01", "u09"]
        q = {(k, r): d for k, r, d in conn.execute(
            """select legacy_key, reason_code, detail from ops.quarantine
               where target_table = 'core.users' and resolved_at is null""").fetchall()}
        assert set(q) == {("u02", "DUPLICATE_KEY"), ("u03", "NULL_VIOLATION"), ("u04", "ORPHAN_FK"),
                          ("u05", "SUITE_RULE"), ("u06", "NULL_VIOLATION"), ("u07", "NULL_VIOLATION"),
                          ("u08", "DUPLICATE_KEY")}
        assert q[("u02", "DUPLICATE_KEY")]["constraint"] == "users_email_key"
        assert q[("u02", "DUPLICATE_KEY")]["survivor"] == {"legacy_table": "test_users", "legacy_key": "u01"}
        assert q[("u08", "DUPLICATE_KEY")]["survivor"]["legacy_key"] == "z9"
        assert q[("u03", "NULL_VIOLATION")]["column"] == "email"
        assert q[("u03", "NULL_VIOLATION")]["constraint"].endswith("email_not_null")
        assert q[("u04", "ORPHAN_FK")]["constraint"] == "users_person_id_fkey"
        assert q[("u05", "SUITE_RULE")] == {"expectation": "email at example.org"}
        assert q[("u07", "NULL_VIOLATION")]["survivor_quarantined"] == {"legacy_table": "test_users", "legacy_key": "u06"}
        text = json.dumps(list(q.values())) + str(stats.as_dict())
        assert not any(s in text for s in SECRETS) and "@" not in text
        # quarantined rows are not mapped, and reconciliation counts them
        mapped = {k for k, in conn.execute("select legacy_key from ops.legacy_id_map where legacy_table = 'test_users'")}
        assert mapped == {"u01", "u09", "z9"}
        recon = reconcile(conn, spec)
        [src] = recon.sources
        assert (src.seen, src.loaded, src.merged, src.quarantined, src.missing) == (9, 2, 0, 7, 0)
        assert src.quarantined_by_reason == {"DUPLICATE_KEY": 2, "NULL_VIOLATION": 3, "ORPHAN_FK": 1, "SUITE_RULE": 1}


def test_a_fixed_row_loads_on_the_next_run_and_its_entry_is_resolved(fresh_db, tmp_path):
    spec = users_setup(fresh_db, tmp_path)
    with psycopg.connect(fresh_db) as conn:
        apply_table(conn, spec, RUN, row_rules=USER_RULES)
        conn.execute("update stg.test_users set email = 'fixed@example.org', _change_seq = 2 where _key = 'u03'")
        conn.execute("""insert into etl.stage_runs (run_id, mode, full_refresh, snapshot_seq, tables_staged,
                        rows_changed, rows_deleted, started_at) values ('run-2', 'same-database', false, 2, 1, 1, 0, now())""")
        conn.commit()
        stats = apply_table(conn, spec, "run-2", row_rules=USER_RULES)
        assert stats.written == 1
        assert conn.execute("""select resolved_at is not null from ops.quarantine
                               where legacy_key = 'u03' and target_table = 'core.users'""").fetchone() == (True,)


def test_check_constraint_and_foreign_key_on_a_derived_table(fresh_db, tmp_path):
    path = tmp_path / "departments.sql"
    fac = uid("facility")
    path.write_text(f"""
        select etl.canonical_id('core.departments', 'x', v.k) as department_id, v.facility_id::uuid as facility_id,
               v.name, v.type, 'x'::text as _legacy_table, v.k as _legacy_key, 'LOADED'::text as _disposition,
               null::text as _reason, null::jsonb as _detail
        from (values ('d1', '{fac}', 'Cardiology', 'OPD'), ('d2', '{fac}', 'Secret Ward', 'BOGUS'),
                     ('d3', '{uid("gone")}', 'Orphans', 'WARD')) as v (k, facility_id, name, type)
    """)
    with psycopg.connect(fresh_db) as conn:
        apply_ddl(conn)
        conn.execute("""insert into etl.stage_runs (run_id, mode, full_refresh, snapshot_seq, tables_staged,
                        rows_changed, rows_deleted, started_at) values (%s, 'same-database', false, 1, 0, 0, 0, now())""", (RUN,))
        conn.execute("insert into core.facilities (facility_id, name, timezone) values (%s, 'F', 'UTC')", (fac,))
        conn.commit()
        spec = TableSpec("core", "departments", sources=(), transform_path=path)
        stats = apply_table(conn, spec, RUN)
        assert stats.written == 1 and stats.preflight == {"CHECK_VIOLATION": 1, "ORPHAN_FK": 1}
        q = dict(conn.execute("""select legacy_key, detail ->> 'constraint' from ops.quarantine
                                 where target_table = 'core.departments'""").fetchall())
        assert q == {"d2": "departments_type_check", "d3": "departments_facility_id_fkey"}
        assert "Secret" not in json.dumps(conn.execute("select jsonb_agg(detail) from ops.quarantine").fetchone()[0])


def test_suite_rules_from_the_gx_suite_are_checked_before_the_write(fresh_db, tmp_path):
    from hms_pipeline.quality.suites import load_suite, preflight_rules

    rules = preflight_rules(load_suite("core.users"))
    rules.append(preflight.RowRule("email at example.org", steps.sql.SQL(USER_RULES[0][1]), frozenset({"email"})))
    spec = users_setup(fresh_db, tmp_path)
    with psycopg.connect(fresh_db) as conn:
        stats = apply_table(conn, spec, RUN, row_rules=rules)
        assert stats.rule_errors == []
        assert stats.preflight["SUITE_RULE"] >= 1


def test_a_database_error_the_preflight_cannot_foresee_names_no_value(fresh_db, tmp_path):
    spec = users_setup(fresh_db, tmp_path, rows=USERS[:1])
    with psycopg.connect(fresh_db) as conn:
        # a trigger the pre-flight does not model, quoting the row in its message and DETAIL
        conn.execute("""create function public.refuse() returns trigger language plpgsql as $$
                        begin raise exception 'refused %', new.email using detail = 'Key (email)=(' || new.email || ')',
                                  errcode = '23514', constraint = 'users_policy'; end $$""")
        conn.execute("create trigger refuse before insert on core.users for each row execute function public.refuse()")
        conn.commit()
        with pytest.raises(TransformError) as info:
            apply_table(conn, spec, RUN)
        err = info.value
        assert err.table == "core.users" and err.step == "upsert" and err.sqlstate == "23514"
        assert err.constraint == "users_policy"
        assert "alice" not in str(err) and "@" not in str(err)
        assert err.__cause__ is None and err.__context__ is None
        assert conn.execute("select count(*) from ops.quarantine").fetchone() == (0,)  # all rolled back


def test_a_failing_transform_names_no_value(fresh_db, tmp_path):
    path = tmp_path / "bad.sql"
    path.write_text("""select 'Ravi Kumar'::uuid as user_id, 'x'::text as email, null::uuid as person_id,
                       'x'::text as _legacy_table, 'k'::text as _legacy_key, 'LOADED'::text as _disposition,
                       null::text as _reason, null::jsonb as _detail""")
    with psycopg.connect(fresh_db) as conn:
        apply_ddl(conn)
        conn.execute("""insert into etl.stage_runs (run_id, mode, full_refresh, snapshot_seq, tables_staged,
                        rows_changed, rows_deleted, started_at) values (%s, 'same-database', false, 1, 0, 0, 0, now())""", (RUN,))
        conn.commit()
        with pytest.raises(TransformError) as info:
            apply_table(conn, TableSpec("core", "users", sources=(), transform_path=path), RUN)
        assert "bad.sql" in str(info.value) and info.value.sqlstate == "22P02"
        assert "Ravi" not in str(info.value) and info.value.__context__ is None
