"""The legacy DDL against the fixture contract.

The expected shape is parsed from the shared contract (``<repo>/../shared/legacy/FIXTURE_CONTRACT.md``,
present in CI) when it exists, else from the vendored copy; the live catalog of a freshly created
schema is compared with it relation by relation, for both profiles and in ``public`` and ``legacy``.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from hms_pipeline.legacy import contract as lc
from hms_pipeline.legacy.schema import create_legacy_schema, legacy_tables
from hms_pipeline.paths import PROJECT_ROOT

SHARED_CONTRACT = PROJECT_ROOT.parent / "shared" / "legacy" / "FIXTURE_CONTRACT.md"
CONTRACT_PATH = SHARED_CONTRACT if SHARED_CONTRACT.is_file() else lc.VENDORED_CONTRACT
CONTRACT = lc.load_contract(CONTRACT_PATH)

LIVE_VIEWS = {"appointments", "medicines", "billing_items", "payment_history"}


# --------------------------------------------------------------------------------------------------
# The contract file, the vendored copy and the committed SQL


def test_vendored_contract_equals_shared():
    if not SHARED_CONTRACT.is_file():
        pytest.skip(f"no shared contract at {SHARED_CONTRACT}")
    assert lc.VENDORED_CONTRACT.read_bytes() == SHARED_CONTRACT.read_bytes(), (
        "hms_pipeline/legacy/FIXTURE_CONTRACT.md differs from the shared contract: copy it over and run "
        "`python -m hms_pipeline.legacy.contract write-sql`"
    )


@pytest.mark.parametrize("profile", lc.PROFILES)
def test_committed_sql_equals_fresh_render(profile):
    committed = lc.sql_path(profile).read_text(encoding="utf-8")
    assert committed == lc.render_sql(lc.load_contract(), profile), (
        f"{lc.sql_path(profile)} is stale: run `python -m hms_pipeline.legacy.contract write-sql`"
    )


def test_contract_parses_to_43_tables_and_one_base():
    assert len(CONTRACT.tables) == 43
    assert set(CONTRACT.bases) == {"payment_ledger"}
    kinds = {t.name: t.kind for t in CONTRACT.tables.values()}
    assert {n for n, k in kinds.items() if k == "live-view-over"} == LIVE_VIEWS
    assert CONTRACT.table("payment_history").base_table == "payment_ledger"
    assert CONTRACT.table("payment_history").base_rows_live == 142
    assert CONTRACT.table("prescription_dispensing").rows_live is None
    assert CONTRACT.table("patients").rows_live == 3254
    assert CONTRACT.names[0] == "ref_code" and CONTRACT.names[-1] == "payment_history"
    assert CONTRACT.table("medicine_batches").column("quantity").generated == "coalesce(current_quantity,0)"
    assert CONTRACT.table("medicine_batches").uniques == (("medication_id", "batch_number"),)
    assert CONTRACT.table("fee_rates").column("rate_per_unit").check == lc.Check("ge", lo="0")
    assert CONTRACT.table("patients").column("age").check == lc.Check("between", lo="0", hi="150")
    assert "qr_code" in CONTRACT.table("patients").omitted
    assert set(CONTRACT.table("medications").optional_columns) == {
        "mrp", "unit_price", "unit", "schedule", "stock_quantity"
    }
    assert CONTRACT.table("users").description == "All 16 live columns (PBT listing, which matches AUD)."


def test_legacy_tables_per_profile():
    live, blueprint = legacy_tables("live"), legacy_tables("blueprint")
    assert list(live) == list(CONTRACT.names) == list(blueprint)
    assert {n for n, k in live.items() if k == "view"} == LIVE_VIEWS
    assert {n for n, k in live.items() if k == "absent"} == {
        t.name for t in CONTRACT.tables.values() if t.kind == "blueprint-only"
    }
    assert live["payment_ledger"] == "table"
    assert blueprint["payment_ledger"] == "absent"
    assert {n for n, k in blueprint.items() if k == "table"} == set(CONTRACT.tables)
    with pytest.raises(ValueError, match="unknown legacy profile"):
        legacy_tables("staging")


_MINI = """\
# mini
## Creation order

a, b (view).

## Tables

### public.a
profile: blueprint+live
rows-live: 1
```columns
{a_line}
```
omitted: none
not-created: none
note: A. Second.

### public.b
profile: live-view-over a
rows-live: 0
view-sql: SELECT * FROM public.a
```columns
id uuid
```
omitted: none
not-created: none
note: B.

## Vocabularies

```vocab
```
"""


@pytest.mark.parametrize(
    "a_line, message",
    [
        ("id uuid pk not null", "out of order"),
        ("id uuid  not null", "single spaces"),
        ("id uuid4", "unknown type"),
        ("id uuid default 0 x", "unexpected token"),
        ("id uuid check a|a", "bad check spec"),
        ("id uuid fk b", "fk takes"),
    ],
)
def test_contract_grammar_errors_name_the_line(a_line, message):
    with pytest.raises(lc.ContractError, match=message) as exc:
        lc.parse_contract(_MINI.format(a_line=a_line))
    assert "contract line 12" in str(exc.value)


def test_contract_cross_rules():
    ok = lc.parse_contract(_MINI.format(a_line="id uuid not null default gen_random_uuid() pk"))
    assert ok.relation_kind("b", "live") == "view"
    with pytest.raises(lc.ContractError, match="created before its base"):
        lc.parse_contract(_MINI.format(a_line="id uuid").replace("a, b (view).", "b (view), a."))
    with pytest.raises(lc.ContractError, match="differ from its base"):
        lc.parse_contract(_MINI.format(a_line="id text"))
    with pytest.raises(lc.ContractError, match="expected 'note: ...'"):
        lc.parse_contract(_MINI.format(a_line="id uuid").replace("note: A. Second.\n", ""))


# --------------------------------------------------------------------------------------------------
# Catalog against contract

_TYPE_NAMES = {
    "integer": "int",
    "character varying": "varchar",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time without time zone": "time",
}


def normalize_type(pg_type: str) -> str:
    """``format_type`` output in the contract's spelling: varchar(n), numeric(p,s), int, text[]."""
    m = re.match(r"^(.*?)(\(\d+(?:,\d+)?\))?(\[\])?$", pg_type)
    base, size, array = m.group(1), m.group(2) or "", m.group(3) or ""
    return _TYPE_NAMES.get(base, base) + size + array


def normalize_expr(expr: str | None) -> str | None:
    """An expression without casts, parentheses, whitespace and case, for comparing deparsed SQL."""
    if expr is None:
        return None
    expr = re.sub(r"::[a-z ]+(\(\d+(,\d+)?\))?(\[\])?", "", expr)
    return re.sub(r"[()\s]", "", expr).lower()


def normalize_default(expr: str | None) -> str | None:
    if expr is None:
        return None
    return re.sub(r"::[a-z ]+(\(\d+(,\d+)?\))?(\[\])?$", "", expr)


def _literals(text: str) -> frozenset[str]:
    return frozenset(v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", text))


def _check_key(column: str, check: lc.Check) -> tuple:
    if check.kind == "in":
        return ("in", frozenset(check.values))
    expr = {
        "gt": f"{column}>{check.lo}",
        "ge": f"{column}>={check.lo}",
        "between": f"{column}>={check.lo}and{column}<={check.hi}",
    }[check.kind]
    return ("expr", expr)


def expected_relation(name: str, profile: str) -> dict:
    columns = lc.Contract.columns_of(CONTRACT, name)
    return {
        "columns": [
            (
                c.name,
                c.type,
                c.not_null or c.pk,
                None if c.generated else c.default,
                normalize_expr(c.generated),
            )
            for c in columns
        ],
        "pk": tuple(c.name for c in columns if c.pk),
        "uniques": {(c.name,) for c in columns if c.unique} | set(CONTRACT.uniques_of(name)),
        "fks": {((c.name,), c.fk.table, (c.fk.column,)) for c in columns if c.fk},
        "checks": {c.name: _check_key(c.name, c.check) for c in columns if c.check},
    }


_COLUMNS_SQL = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated,
       pg_get_expr(d.adbin, d.adrelid)
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = %s and c.relkind in ('r', 'v') and a.attnum > 0 and not a.attisdropped
order by c.relname, a.attnum
"""

_CONSTRAINTS_SQL = """
select c.relname, con.contype,
       array(select a.attname from unnest(con.conkey) with ordinality k(num, ord)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num order by k.ord),
       fc.relname, fn.nspname,
       array(select a.attname from unnest(con.confkey) with ordinality k(num, ord)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num order by k.ord),
       pg_get_constraintdef(con.oid)
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = con.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where n.nspname = %s and con.contype in ('p', 'u', 'f', 'c')
"""


def catalog(conn: psycopg.Connection, schema: str) -> tuple[dict[str, str], dict[str, dict]]:
    kinds = dict(
        conn.execute(
            "select c.relname, c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p', 'f')",
            (schema,),
        ).fetchall()
    )
    rels: dict[str, dict] = {
        name: {"columns": [], "pk": (), "uniques": set(), "fks": set(), "checks": {}} for name in kinds
    }
    for rel, col, ctype, notnull, generated, default in conn.execute(_COLUMNS_SQL, (schema,)):
        gen = normalize_expr(default) if generated == "s" else None
        rels[rel]["columns"].append(
            (col, normalize_type(ctype), notnull, None if generated else normalize_default(default), gen)
        )
    for rel, contype, cols, frel, fschema, fcols, definition in conn.execute(_CONSTRAINTS_SQL, (schema,)):
        r = rels[rel]
        if contype == "p":
            r["pk"] = tuple(cols)
        elif contype == "u":
            r["uniques"].add(tuple(cols))
        elif contype == "f":
            assert fschema == schema, f"{rel} references {fschema}.{frel}, outside schema {schema}"
            r["fks"].add((tuple(cols), frel, tuple(fcols)))
        else:
            assert len(cols) == 1, f"{rel}: multi-column check {definition}"
            lits = _literals(definition)
            key = ("in", lits) if lits else ("expr", normalize_expr(definition.removeprefix("CHECK ")))
            assert cols[0] not in r["checks"], f"{rel}.{cols[0]} has two checks"
            r["checks"][cols[0]] = key
    return kinds, rels


@pytest.fixture(params=[("live", "public"), ("live", "legacy"), ("blueprint", "public"), ("blueprint", "legacy")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def created(request, fresh_db):
    profile, schema = request.param
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, schema, profile)
        conn.commit()
        yield profile, schema, conn


def test_relations_match_profile(created):
    profile, schema, conn = created
    kinds, _ = catalog(conn, schema)
    for name in CONTRACT.names:
        expected = CONTRACT.relation_kind(name, profile)
        actual = {"r": "table", "v": "view"}.get(kinds.get(name, ""), "absent")
        assert actual == expected, f"{schema}.{name}: {actual}, contract says {expected} in {profile}"
    assert set(kinds) <= set(CONTRACT.names), f"unexpected relations: {set(kinds) - set(CONTRACT.names)}"
    if profile == "blueprint":
        assert set(kinds) == set(CONTRACT.tables) and set(kinds.values()) == {"r"}
    else:
        assert {n for n, k in kinds.items() if k == "v"} == LIVE_VIEWS


def test_columns_and_constraints_match_contract(created):
    profile, schema, conn = created
    kinds, rels = catalog(conn, schema)
    for name in CONTRACT.names:
        if name not in kinds:
            continue
        expected, actual = expected_relation(name, profile), rels[name]
        for key in ("columns", "pk", "uniques", "fks", "checks"):
            assert actual[key] == expected[key], f"{schema}.{name} {key} differ from the contract"
        block = CONTRACT.tables.get(name)
        if block is not None:
            present = {c[0] for c in actual["columns"]}
            assert not present & set(block.not_created), f"{name}: not-created columns exist"
            assert not present & set(block.omitted), f"{name}: omitted columns exist"


def test_vocabularies_match_checks(created):
    profile, schema, conn = created
    _, rels = catalog(conn, schema)
    for entry in CONTRACT.vocab:
        if entry.domain is not None or entry.table not in rels:
            continue  # ref_code.code@<domain> lines describe data, not a column constraint
        check = rels[entry.table]["checks"].get(entry.column)
        where = f"vocab line {entry.line} ({entry.table}.{entry.column} [{entry.enforcement}])"
        if entry.enforcement == "check":
            assert check == ("in", frozenset(entry.values)), where
        else:
            assert check is None, where
        if entry.enforcement == "ref_code":
            col = next(c for c in rels[entry.table]["columns"] if c[0] == entry.column)
            assert col[1] == "uuid", where


def test_live_views_read_their_base_in_the_same_schema(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        create_legacy_schema(conn, "legacy", "live")
        usage = set(
            conn.execute(
                "select view_name, table_schema, table_name from information_schema.view_table_usage"
                " where view_schema = 'legacy'"
            ).fetchall()
        )
        assert usage == {(name, "legacy", CONTRACT.table(name).base_table) for name in LIVE_VIEWS}
        # the generated column and defaults work through the view's base
        conn.execute("set search_path to legacy")
        med = conn.execute("insert into medications (name) values ('x') returning id").fetchone()[0]
        conn.execute(
            "insert into medicine_batches (medication_id, batch_number, expiry_date, current_quantity)"
            " values (%s, 'B1', current_date, 7)",
            (med,),
        )
        assert conn.execute("select quantity from medicine_batches").fetchone()[0] == 7
        assert conn.execute("select count(*) from medicines").fetchone()[0] == 1


def test_create_in_other_schema_leaves_public_and_search_path_alone(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        before = conn.execute("show search_path").fetchone()[0]
        with conn.transaction():
            create_legacy_schema(conn, "legacy", "blueprint")
            assert conn.execute("show search_path").fetchone()[0] == before
        count = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'public' and c.relkind in ('r', 'v')"
        ).fetchone()[0]
        assert count == 0


@pytest.mark.parametrize(
    "schema, profile, message",
    [
        ("legacy", "staging", "unknown legacy profile"),
        ("Legacy", "live", "invalid legacy schema"),
        ("x; drop table y", "live", "invalid legacy schema"),
        ("pg_temp", "live", "invalid legacy schema"),
    ],
)
def test_create_validates_arguments(fresh_db, schema, profile, message):
    with psycopg.connect(fresh_db) as conn:
        with pytest.raises(ValueError, match=message):
            create_legacy_schema(conn, schema, profile)
