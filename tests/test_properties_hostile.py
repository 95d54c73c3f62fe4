"""Any legacy content: property-based tests (Hypothesis) of the backfill on small random hostile
legacy databases, in both profiles.

Each example (tests/hostile_strategies.py) is a fresh database: the canonical DDL, a generated legacy
base of 20-40 patients (drawn seed, profile blueprint or live) that lost every PK/UNIQUE/FK/CHECK/NOT
NULL, then a drawn list of mutations resolved against the catalog (values of every shape a column's
type allows in any staged table, repeated and NULL ids, FK-like columns pointed anywhere, columns
drifted to TEXT with junk in them). The backfill runs in-process and these invariants must hold:

1. the run succeeds: no step fails on data, no blocking check fails;
2. every legacy row is accounted for: legacy rows = staged + staging rejects per table, every
   ``reconciliation`` check passed, and ``engine.reconcile`` over every spec finds nothing missing;
3. every canonical constraint holds: none lost or left NOT VALID, no FK row without its parent
   (anti-join), no row for which a CHECK is false, no invalid index;
4. a no-change re-run writes 0 rows (loaded and soft_deleted 0 for every canonical asset, same
   fingerprint);
5. the same legacy rows in another physical order (a copy of the database, rows re-inserted in
   reverse or shuffled ctid order) give the same canonical rows (``fingerprint``);
6. no generated name, phone or e-mail (read from the legacy tables after the mutations) appears in
   the Python logs, the Dagster event log or (full job) the validation report.

CI runs a fixed, derandomized budget without shrinking (``CI_EXAMPLES`` per profile, 10-25 s
each; the file takes about 2.5 minutes on the shared 2-core machine with PostgreSQL 15);
``bench/fuzz_backfill.py`` runs the same property randomized with a larger budget and shrinks what
it finds. Failure classes it found are pinned below as plain regression tests.

    HMS_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/pytest tests/test_properties_hostile.py
    HMS_TEST_DATABASE_URL=... .venv/bin/python bench/fuzz_backfill.py --examples 40 --seconds 1200
"""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from hostile_strategies import (
    PROFILES,
    DriftColumn,
    DuplicateRow,
    HostileCase,
    NullKey,
    PointRef,
    SetValue,
    Value,
    check_case,
    hostile_cases,
)

# examples per profile in CI: each builds 2 databases and runs 3 backfills (10-25 s on the shared
# 2-core machine with PostgreSQL 15); the whole file stays under 4 minutes. The first example
# Hypothesis runs is the simplest one (CI_MIN_MUTATIONS identical copies of one row: a repeated key).
CI_EXAMPLES = 3
CI_MIN_MUTATIONS = 3

CI = settings(
    max_examples=CI_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    # no shrinking in CI (a shrink step is a whole example: minutes); the bench shrinks
    phases=[Phase.explicit, Phase.generate],
    print_blob=False,
)


@pytest.mark.one_server
@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
@CI
@given(data=st.data())
def test_any_hostile_legacy_content_backfills_and_keeps_every_invariant(pg_server_url, profile, data):
    case = data.draw(hostile_cases(profile, min_mutations=CI_MIN_MUTATIONS), label="case")
    outcome = check_case(pg_server_url, case, note=note)
    outcome.raise_if_violated()


# --- the full job (GX suites and the validation report) on one hostile base --------------------------

# Hostile content in the columns a person reads (names, phones, e-mails), plus a 1 MiB value, odd
# JSON, an extreme date, a drifted column, a NULL and a repeated key, dangling and self references.
RICH = HostileCase(profile="blueprint", seed=11, scale=25, order="shuffle", salt=7, mutations=[
    SetValue("patients", "name", 1, Value("script", text="முருகன் செல்வராஜ்")),
    SetValue("patients", "name", 2, Value("nfd", text="José Álvarez Núñez")),
    SetValue("patients", "name", 3, Value("literal", text="Mrs.")),
    DuplicateRow("patients", 4, "name", Value("case", n=4, text="upper")),
    SetValue("patients", "phone", 5, Value("literal", text="+91 98765-43210 / 98765 43211")),
    SetValue("patients", "email", 6, Value("case", n=6, text="upper")),
    SetValue("patients", "address", 7, Value("long", n=1 << 20, text="த")),
    SetValue("patients", "date_of_birth", 8, Value("extreme", n=1)),
    SetValue("users", "name", 1, Value("script", text="राजेश कुमार")),
    SetValue("users", "email", 2, Value("pad", n=2, text="both")),
    SetValue("users", "permissions", 0, Value("json", json=[[1, 2], [3]])),
    SetValue("staff", "first_name", 0, Value("nfd", text="Zoë")),
    SetValue("doctors", "availability_hours", 0, Value("json", json={"workingDays": {"mon": {"x": [None]}}})),
    DriftColumn("vitals", "temperature", 0, "98,6"),
    NullKey("encounter", 2),
    PointRef("vitals", "patient_id", 1, "nothing"),
    PointRef("bed_allocations", "bed_id", 0, "self"),
])


@pytest.mark.one_server
@pytest.mark.slow
def test_the_full_job_with_suites_and_report_on_a_hostile_base(pg_server_url):
    outcome = check_case(pg_server_url, RICH, suites=True, report=True, note=print)
    assert not any(d.split(": ", 1)[1].startswith("skipped") for d in outcome.descriptions), outcome.descriptions
    assert outcome.phi_needles > 100
    outcome.raise_if_violated()


# --- regression tests: each failure class the property found, pinned as a plain test ---------------


def assert_invariants(server_url: str, case: HostileCase, **kwargs) -> None:
    check_case(server_url, case, note=print, **kwargs).raise_if_violated()


def test_regression_unparseable_value_of_a_drifted_column_next_to_a_null_key(pg_server_url):
    """Found by the property (blueprint, shrunk to these two mutations): a legacy column drifted to
    TEXT holding a value that does not parse as the contract's type, in a table that also has a NULL
    id, failed clinical.appointments (and every table reading a drifted column) with
    psycopg IndeterminateDatatype "could not determine data type of parameter $2": the untyped
    ``%(rule)s`` in jsonb_build_object of engine/rejects.py _QUARANTINE_VALUES (fixed in ee78864)."""
    assert_invariants(pg_server_url, HostileCase("blueprint", seed=194, scale=25, mutations=[
        SetValue("appointment", "id", 0, Value("null")),
        DriftColumn("appointment", "encounter_id", 0, "abc"),
    ]))


@pytest.mark.parametrize("stamp", ["infinity", "20260-01-01 00:00:00+00"])
def test_regression_a_watermark_after_year_9999(pg_server_url, stamp):
    """Found by the property (blueprint; shrunk: ``medical_history.updated_at`` := 'infinity'): a
    legacy ``updated_at`` (the staging watermark column) of 'infinity', or after year 9999 (a typed
    year 20260), is a valid timestamptz, but etl__legacy_snapshot fails with psycopg.DataError
    "timestamp too large (after year 10K)": staging._max_watermark loads max(updated_at) into
    Python, which cannot hold it; nothing is staged, so no table loads. (Fixed in 4f91515: the
    watermark is clamped to what datetime holds.)"""
    assert_invariants(pg_server_url, HostileCase("blueprint", seed=1, scale=20, mutations=[
        SetValue("patients", "updated_at", 3, Value("literal", text=stamp)),
    ]))


def null_role_of_a_doctors_login(url: str) -> str:
    """users.role := NULL for the login (users.id or users.auth_id = doctors.user_id) of one doctor."""
    with psycopg.connect(url) as conn:
        n = conn.execute("""update users u set role = null where u.id = (
                                select l.id from doctors d join users l on l.id = d.user_id or l.auth_id = d.user_id
                                order by d.id limit 1)""").rowcount
    assert n == 1
    return "users.role := NULL for one doctor's login"


def test_regression_a_doctor_whose_login_has_no_role(pg_server_url):
    """Found by the bench on the generator's hostile base (seed 189, scale 40: HOSTILE_NULL_VALUE on
    users.role), reproduced on the blueprint base by this one change: a doctor whose login
    (users row) has role NULL is recorded MERGED into the core.staff id of that login, but core.staff
    consumes users only where ``role <> 'patient'`` (NULL for a NULL role), so that staff row is
    never written; the doctor's id-map entry points at nothing and core.staff's blocking
    reconciliation fails ("doctors: 1 of 3 legacy rows neither loaded, merged nor quarantined"),
    stopping every table downstream of core.staff. Same in the live profile."""
    assert_invariants(pg_server_url, HostileCase("blueprint", seed=1, scale=20),
                      prepared=null_role_of_a_doctors_login)
