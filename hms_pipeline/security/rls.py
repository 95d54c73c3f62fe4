"""Row-level security, phase 5 (issue #14): enable the policies table by table, say where RLS is on,
and prove the role matrix live.

The roles, caller functions, grants and policies are defined by ``sql/ddl/098_security.sql`` (the
schema phase); nothing there enables RLS. :func:`enable` does (``ALTER TABLE ... ENABLE ROW LEVEL
SECURITY``, never FORCE: the tables' owner, which the pipeline connects as, is not filtered, so the
backfill keeps working). :data:`ACCESS` is the matrix as data (the same letters as the DDL), expanded
into :data:`MATRIX` (role x table x verb x scope -> allowed). :func:`verify_matrix` computes every
cell LIVE, inside a transaction that is always rolled back: it writes an in-scope and an
out-of-scope fixture (two probe facilities), then as each role (``SET LOCAL ROLE``) with the staff id
given by the session setting ``hms.staff_id``, by a simulated Supabase JWT claim ``staff_id``, or by a
claim ``sub`` (the caller's user id), attempts each verb on each row and records whether the access
control let it act. No value of a row is ever returned or logged: cells hold names and booleans.

No Dagster here (engine layer).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

ROLES = ("hms_doctor", "hms_nurse", "hms_pharmacy", "hms_billing", "hms_admin")
VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE")
SCOPES = ("in", "out")
IDENTITIES = ("guc", "jwt", "jwt_sub")

_LETTER = {"SELECT": "s", "INSERT": "i", "UPDATE": "u", "DELETE": "d"}

# table -> {role: verbs}. Upper case = rows in the caller's scope, lower case = every row; a verb not
# listed is refused (no grant, no policy). hms_admin has every verb on every row (pharmacy.inventory_txns:
# SELECT and INSERT only, the ledger is immutable for everyone). Mirrors sql/ddl/098_security.sql.
_READ_ALL = {"hms_doctor": "s", "hms_nurse": "s", "hms_pharmacy": "s", "hms_billing": "s"}
ACCESS: dict[str, dict[str, str]] = {
    "core.facilities": _READ_ALL,
    "core.departments": _READ_ALL,
    "core.staff_roles": _READ_ALL,
    "core.staff": _READ_ALL,
    "core.staff_schedules": _READ_ALL,
    "core.users": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "S", "hms_billing": "S"},
    "core.persons": {"hms_doctor": "SiU", "hms_nurse": "SiU", "hms_pharmacy": "S", "hms_billing": "S"},
    "core.patients": {"hms_doctor": "SiU", "hms_nurse": "SiU", "hms_pharmacy": "S", "hms_billing": "S"},
    "clinical.appointments": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.encounters": {"hms_doctor": "SIU", "hms_nurse": "SIU", "hms_pharmacy": "S", "hms_billing": "S"},
    "clinical.vitals": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.symptoms": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.allergies": {"hms_doctor": "SIU", "hms_nurse": "SIU", "hms_pharmacy": "S"},
    "clinical.medical_history": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.lab_tests": _READ_ALL,
    "clinical.lab_orders": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.lab_order_items": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "clinical.lab_results": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "inpatient.wards": _READ_ALL,
    "inpatient.beds": _READ_ALL,
    "inpatient.admissions": {"hms_doctor": "SIU", "hms_nurse": "SIU", "hms_billing": "S"},
    "inpatient.bed_allocations": {"hms_doctor": "SIU", "hms_nurse": "SIU"},
    "pharmacy.items": {**_READ_ALL, "hms_pharmacy": "siu"},
    "pharmacy.batches": {**_READ_ALL, "hms_pharmacy": "siu"},
    "pharmacy.inventory_txns": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "SI", "hms_billing": "S"},
    "pharmacy.prescriptions": {"hms_doctor": "SIU", "hms_nurse": "S", "hms_pharmacy": "SU"},
    "pharmacy.rx_lines": {"hms_doctor": "SIU", "hms_nurse": "S", "hms_pharmacy": "SU"},
    "pharmacy.dispenses": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "SIU"},
    "billing.fee_schedules": {**_READ_ALL, "hms_billing": "siu"},
    "billing.fee_rates": {**_READ_ALL, "hms_billing": "siu"},
    "billing.charges": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "SI", "hms_billing": "siud"},
    "billing.invoices": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "S", "hms_billing": "siud"},
    "billing.invoice_lines": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "S", "hms_billing": "siud"},
    "billing.payments": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "S", "hms_billing": "siud"},
    "ops.attachments": {},
    "ops.legacy_kept": {"hms_doctor": "S", "hms_nurse": "S", "hms_pharmacy": "S", "hms_billing": "S"},
    "ref.codes": _READ_ALL,
}
# Tables the live matrix has no fixture for (ops.legacy_kept: its rows follow canonical rows through
# provenance; it is exercised through the compatibility views).
NOT_PROBED = ("ops.legacy_kept",)
# The ledger is immutable: nobody updates or deletes a movement.
_IMMUTABLE = {"pharmacy.inventory_txns": ("UPDATE", "DELETE")}

TABLES = tuple(ACCESS)


def allowed(role: str, table: str, verb: str, scope: str) -> bool:
    """The expected cell: may ``role`` do ``verb`` on a row of ``table`` in (or out of) its scope."""
    if verb in _IMMUTABLE.get(table, ()):
        return False
    if role == "hms_admin":
        return True
    verbs = ACCESS[table].get(role, "")
    letter = _LETTER[verb]
    return letter in verbs or (letter.upper() in verbs and scope == "in")


MATRIX: dict[tuple[str, str, str, str], bool] = {
    (role, table, verb, scope): allowed(role, table, verb, scope)
    for table in TABLES if table not in NOT_PROBED for role in ROLES for verb in VERBS for scope in SCOPES
}

# Through the compatibility views (security_invoker): SELECT of a legacy row. A role that may not read
# every canonical table a view reads gets "permission denied" (the legacy patients row bundles vitals,
# allergies and history; the legacy encounter row its appointment): refused, in and out of scope.
VIEW_MATRIX: dict[tuple[str, str, str, str], bool] = {
    (role, view, "SELECT", scope): (role == "hms_admin" or (role in ("hms_doctor", "hms_nurse") and scope == "in"))
    for view in ("public.patients", "public.encounter") for role in ROLES for scope in SCOPES
}


@dataclass(frozen=True)
class Cell:
    role: str
    table: str
    verb: str
    scope: str
    expected: bool
    actual: bool
    identity: str = "guc"
    detail: str = ""  # SQLSTATE or "0 rows": never a value

    def as_dict(self) -> dict:
        return asdict(self)


# --- enable / status ------------------------------------------------------------------------------


def _qualified(table: str) -> sql.Identifier:
    schema, _, name = table.partition(".")
    if not schema or not name:
        raise ValueError(f"{table!r} is not schema.table")
    return sql.Identifier(schema, name)


def rls_status(conn: psycopg.Connection) -> dict[str, bool]:
    """{schema.table: RLS enabled} for every table of the matrix that exists, and the archived legacy
    tables once the compatibility views are on."""
    rows = conn.execute(
        """select n.nspname || '.' || c.relname, c.relrowsecurity from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           where (n.nspname || '.' || c.relname = any(%s) or n.nspname = %s) and c.relkind in ('r', 'p')
           order by 1""", (list(TABLES), _archive_schema(conn) or "")).fetchall()
    return {name: bool(on) for name, on in rows}


def _compat_state(conn: psycopg.Connection) -> dict | None:
    """The compatibility views' switch when it is on (compat.cutover_events, the latest event), else
    None. Read here directly: the security layer does not import hms_pipeline.compat (siblings)."""
    if conn.execute("select to_regclass('compat.cutover_events') is null").fetchone()[0]:
        return None
    row = conn.execute("""select action, legacy_schema, archive_schema, views from compat.cutover_events
                          order by event_id desc limit 1""").fetchone()
    if row is None or row[0] != "compat":
        return None
    return {"legacy_schema": row[1], "archive_schema": row[2], "views": list(row[3] or [])}


def _archive_schema(conn: psycopg.Connection) -> str | None:
    state = _compat_state(conn)
    return state["archive_schema"] if state else None


def _role_exists(conn: psycopg.Connection) -> list[str]:
    have = {r[0] for r in conn.execute("select rolname from pg_roles where rolname = any(%s)", (list(ROLES),))}
    return [r for r in ROLES if r not in have]


def prepare_compat(conn: psycopg.Connection) -> list[str]:
    """When the compatibility views are on: let the roles read them (grants on the views and the
    functions' schema) and keep the archived legacy rows to hms_admin. A view adds the archived rows
    the canonical body does not answer for; under RLS that would show an out-of-scope patient's
    legacy row to anyone who may read the archive, so each archived table gets RLS with one policy
    (hms_admin, every row). Returns the archived tables enabled."""
    archive = _archive_schema(conn)
    if archive is None or _role_exists(conn):
        return []
    state = _compat_state(conn)
    roles = sql.SQL(", ").join(sql.Identifier(r) for r in ROLES)
    views = [v for v in state["views"] if conn.execute("select to_regclass(%s) is not null",
                                                        (f"{state['legacy_schema']}.{v}",)).fetchone()[0]]
    conn.execute(sql.SQL("grant usage on schema {}, {}, etl to {}").format(
        sql.Identifier(state["legacy_schema"]), sql.Identifier(archive), roles))
    for v in views:
        conn.execute(sql.SQL("grant select on {} to {}").format(sql.Identifier(state["legacy_schema"], v), roles))
    enabled = []
    for (t,) in conn.execute("""select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                where n.nspname = %s and c.relkind in ('r', 'p') order by 1""", (archive,)).fetchall():
        ident = sql.Identifier(archive, t)
        conn.execute(sql.SQL("grant select on {} to {}").format(ident, roles))
        conn.execute("select ops.rls_policy(%s::regclass, 'hms_admin_all', 'ALL', 'hms_admin', 'true', 'true')",
                     (f"{archive}.{t}",))
        conn.execute(sql.SQL("alter table {} enable row level security").format(ident))
        enabled.append(f"{archive}.{t}")
    return enabled


def enable(conn: psycopg.Connection, tables: list[str] | None = None) -> list[str]:
    """``ALTER TABLE ... ENABLE ROW LEVEL SECURITY`` on ``tables`` (default: every table of the
    matrix, plus the archived legacy tables when the compatibility views are on), one table at a
    time, in the caller's transaction. Returns the tables enabled by this call (already enabled ones
    are left as they are). Raises ValueError for a table outside the matrix or missing policies."""
    missing_roles = _role_exists(conn)
    if missing_roles:
        raise ValueError(f"roles {', '.join(missing_roles)} do not exist: apply the schema phase as a role "
                         "with CREATEROLE first (sql/ddl/098_security.sql)")
    wanted = list(TABLES) if not tables else list(tables)
    unknown = [t for t in wanted if t not in ACCESS]
    if unknown:
        raise ValueError(f"not a table of the RLS matrix: {', '.join(unknown)} (see hms_pipeline.security.rls.ACCESS)")
    status = rls_status(conn)
    done = []
    for table in wanted:
        if table not in status:
            continue  # an optional table absent in this database
        policies = conn.execute("select count(*) from pg_policy where polrelid = %s::regclass", (table,)).fetchone()[0]
        if not policies:
            raise ValueError(f"{table} has no policy: apply the schema phase first (sql/ddl/098_security.sql)")
        if not status[table]:
            conn.execute(sql.SQL("alter table {} enable row level security").format(_qualified(table)))
            done.append(table)
    if not tables:
        done += [t for t in prepare_compat(conn) if not status.get(t)]
    return done


# --- the live matrix ------------------------------------------------------------------------------

# two probe facilities: every row of _ROWS exists once per facility (suffix in/out)
_FIXTURE = """
insert into core.facilities (facility_id, name, timezone) values
    (%(fac_in)s, 'rls-probe ' || %(tag)s || ' in', 'UTC'), (%(fac_out)s, 'rls-probe ' || %(tag)s || ' out', 'UTC');
insert into core.departments (department_id, facility_id, name, type) values
    (%(dep_in)s, %(fac_in)s, 'rls-probe', 'OPD'), (%(dep_out)s, %(fac_out)s, 'rls-probe', 'OPD');
insert into core.staff_roles (role_id, name) values
    (%(role)s, 'rls-probe ' || %(tag)s), (%(role_out)s, 'rls-probe ' || %(tag)s || ' out');
"""

# (table, key column, {column: value-name}) in insertion order; value names are fixture ids, suffixed
# _in/_out per facility ("@" marks a per-facility id, "=" a shared one, "!" a literal SQL expression).
_ROWS: list[tuple[str, str, dict[str, str]]] = [
    ("core.persons", "person_id", {"person_id": "@person", "first_name": "!'Probe'"}),
    ("core.persons", "person_id", {"person_id": "@doc_person"}),
    ("core.staff", "staff_id", {"staff_id": "@doctor", "person_id": "@doc_person", "department_id": "@dep",
                                "role_id": "=role"}),
    ("core.users", "user_id", {"user_id": "@user", "email": "!'rls-probe-' || %(tag)s || '-' || %(sfx)s || '@example.invalid'",
                               "person_id": "@doc_person"}),
    ("core.staff_schedules", "schedule_id", {"schedule_id": "@schedule", "staff_id": "@doctor"}),
    ("core.patients", "patient_id", {"patient_id": "@patient", "person_id": "@person",
                                     "uhid": "!'RLSPROBE-' || %(tag)s || '-' || %(sfx)s"}),
    ("clinical.encounters", "encounter_id", {"encounter_id": "@encounter", "patient_id": "@patient", "type": "!'OPD'",
                                             "start_at": "!now()", "attending_doctor_id": "@doctor",
                                             "facility_id": "@fac"}),
    ("clinical.appointments", "appointment_id", {"appointment_id": "@appointment", "patient_id": "@patient",
                                                 "doctor_id": "@doctor", "facility_id": "@fac", "status": "!'BOOKED'"}),
    ("clinical.vitals", "vital_id", {"vital_id": "@vital", "encounter_id": "@encounter", "taken_at": "!now()"}),
    ("clinical.symptoms", "symptom_id", {"symptom_id": "@symptom", "encounter_id": "@encounter"}),
    ("clinical.allergies", "allergy_id", {"allergy_id": "@allergy", "patient_id": "@patient"}),
    ("clinical.medical_history", "history_id", {"history_id": "@history", "patient_id": "@patient"}),
    ("clinical.lab_tests", "test_id", {"test_id": "@test", "code": "!'RLSPROBE-' || %(tag)s || '-' || %(sfx)s"}),
    ("clinical.lab_orders", "order_id", {"order_id": "@lab_order", "encounter_id": "@encounter",
                                         "ordered_by": "@doctor", "ordered_at": "!now()"}),
    ("clinical.lab_order_items", "order_item_id", {"order_item_id": "@lab_item", "order_id": "@lab_order",
                                                   "test_id": "@test", "status": "!'ORDERED'"}),
    ("clinical.lab_results", "result_id", {"result_id": "@lab_result", "order_item_id": "@lab_item"}),
    ("inpatient.wards", "ward_id", {"ward_id": "@ward", "department_id": "@dep", "facility_id": "@fac"}),
    ("inpatient.beds", "bed_id", {"bed_id": "@bed", "ward_id": "@ward"}),
    ("inpatient.admissions", "admission_id", {"admission_id": "@admission", "encounter_id": "@encounter",
                                              "admit_at": "!now()", "facility_id": "@fac"}),
    ("inpatient.bed_allocations", "allocation_id", {"allocation_id": "@allocation", "admission_id": "@admission",
                                                    "bed_id": "@bed", "start_at": "!now()"}),
    ("pharmacy.items", "item_id", {"item_id": "@item", "name": "!'rls-probe'",
                                   "code": "!'RLSPROBE-' || %(tag)s || '-' || %(sfx)s"}),
    ("pharmacy.batches", "batch_id", {"batch_id": "@batch", "item_id": "@item", "expiry": "!current_date + 365"}),
    ("pharmacy.inventory_txns", "txn_id", {"txn_id": "@txn", "item_id": "@item", "batch_id": "@batch",
                                           "facility_id": "@fac", "txn_type": "!'GRN'", "qty": "!10"}),
    ("pharmacy.prescriptions", "rx_id", {"rx_id": "@rx", "encounter_id": "@encounter", "prescribed_by": "@doctor",
                                         "prescribed_at": "!now()"}),
    ("pharmacy.rx_lines", "rx_line_id", {"rx_line_id": "@rx_line", "rx_id": "@rx", "item_id": "@item"}),
    ("pharmacy.dispenses", "dispense_id", {"dispense_id": "@dispense", "rx_line_id": "@rx_line", "batch_id": "@batch",
                                           "qty": "!1"}),
    ("billing.fee_schedules", "fee_id", {"fee_id": "@fee", "name": "!'rls-probe'",
                                         "code": "!'RLSPROBE-' || %(tag)s || '-' || %(sfx)s"}),
    ("billing.fee_rates", "rate_id", {"rate_id": "@rate", "fee_id": "@fee", "price": "!1"}),
    ("billing.charges", "charge_id", {"charge_id": "@charge", "encounter_id": "@encounter", "fee_id": "@fee",
                                      "qty": "!1", "unit_price": "!1", "source_table": "!'rls_probe'",
                                      "source_id": "@charge"}),
    ("billing.invoices", "invoice_id", {"invoice_id": "@invoice", "patient_id": "@patient",
                                        "encounter_id": "@encounter", "status": "!'DRAFT'"}),
    ("billing.invoice_lines", "line_id", {"line_id": "@line", "invoice_id": "@invoice", "charge_id": "@charge",
                                          "amount": "!1"}),
    ("billing.payments", "payment_id", {"payment_id": "@payment", "invoice_id": "@invoice", "amount": "!1"}),
    ("ops.attachments", "attachment_id", {"attachment_id": "@attachment", "owner_table": "!'clinical.encounters'",
                                          "owner_id": "@encounter"}),
    ("ref.codes", "code", {"code": "!'RLSPROBE-' || %(tag)s || '-' || %(sfx)s", "system": "!'rls-probe'"}),
]


@dataclass
class Fixture:
    """Ids of the probe rows (never values): per table the in- and out-of-scope key, and per role the
    caller's staff and user id (every caller works in the 'in' facility)."""

    keys: dict[str, dict[str, object]]
    key_column: dict[str, str]
    staff: dict[str, uuid.UUID]
    users: dict[str, uuid.UUID]
    facility_in: uuid.UUID
    facility_out: uuid.UUID


def _insert_fixture(conn: psycopg.Connection) -> Fixture:
    """Write the probe rows (as the connecting owner, inside the caller's transaction)."""
    tag = uuid.uuid4().hex[:10]
    ids: dict[str, object] = {}

    def idv(name: str) -> uuid.UUID:
        return ids.setdefault(name, uuid.uuid4())  # type: ignore[return-value]

    base = {"tag": tag, "fac_in": idv("fac_in"), "fac_out": idv("fac_out"), "dep_in": idv("dep_in"),
            "dep_out": idv("dep_out"), "role": idv("role"), "role_out": idv("role_out")}
    conn.execute("set local hms.migration_bypass = 'on'")
    for stmt in filter(str.strip, _FIXTURE.split(";")):
        conn.execute(stmt, base)
    keys: dict[str, dict[str, object]] = {
        "core.facilities": {"in": base["fac_in"], "out": base["fac_out"]},
        "core.departments": {"in": base["dep_in"], "out": base["dep_out"]},
        "core.staff_roles": {"in": base["role"], "out": base["role_out"]}}
    key_column = {"core.facilities": "facility_id", "core.departments": "department_id", "core.staff_roles": "role_id"}
    for sfx in SCOPES:
        for table, key, cols in _ROWS:
            params = dict(base, sfx=sfx)
            values = []
            for col, spec in cols.items():
                if spec.startswith("!"):
                    values.append(sql.SQL(spec[1:]))
                else:
                    name = spec[1:] + ("_" + sfx if spec[0] == "@" else "")
                    params[name] = idv(name)
                    values.append(sql.Placeholder(name))
            stmt = sql.SQL("insert into {} ({}) values ({}) returning {}").format(
                _qualified(table), sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.SQL(", ").join(values),
                sql.Identifier(key))
            got = conn.execute(stmt, params).fetchone()[0]
            keys.setdefault(table, {}).setdefault(sfx, got)
            key_column[table] = key
    # the callers: one staff member (and login) per role, in the 'in' facility
    staff, users = {}, {}
    for role in ROLES:
        person, sid, uid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn.execute("insert into core.persons (person_id) values (%s)", (person,))
        conn.execute("insert into core.staff (staff_id, person_id, department_id, role_id) values (%s, %s, %s, %s)",
                     (sid, person, base["dep_in"], base["role"]))
        conn.execute("insert into core.users (user_id, email, person_id) values (%s, %s, %s)",
                     (uid, f"rls-probe-{tag}-{role}@example.invalid", person))
        staff[role], users[role] = sid, uid
    return Fixture(keys, key_column, staff, users, base["fac_in"], base["fac_out"])


def _become(conn: psycopg.Connection, role: str, staff_id: uuid.UUID, user_id: uuid.UUID, identity: str) -> None:
    """Inside the current (sub)transaction: act as ``role`` with the caller's identity given by the
    session setting (guc), a JWT claim staff_id (jwt) or a JWT claim sub (jwt_sub)."""
    if identity == "guc":
        claims, staff = "", str(staff_id)
    elif identity == "jwt":
        claims, staff = json.dumps({"role": role, "staff_id": str(staff_id)}), ""
    elif identity == "jwt_sub":
        claims, staff = json.dumps({"role": role, "sub": str(user_id)}), ""
    else:
        raise ValueError(f"unknown identity {identity!r}")
    # set_config('role', ..., true) is SET LOCAL ROLE (membership checked), in one round trip
    conn.execute("select set_config('request.jwt.claims', %s, true), set_config('hms.staff_id', %s, true), "
                 "set_config('role', %s, true)", (claims, staff, role))


_DENIED = {"42501", "23001"}  # insufficient_privilege (grants, RLS WITH CHECK); restrict_violation (immutable ledger)


def _attempt(conn: psycopg.Connection, stmt: sql.Composable, params: tuple, *, rows_needed: bool,
             become) -> tuple[bool, str]:
    """Run ``stmt`` as the role inside a savepoint that is always rolled back. Allowed when it acted on
    the row (or, for a write, when it passed the access checks and an integrity rule such as a
    foreign key or a unique index stopped it: not an access decision)."""
    try:
        with conn.transaction():
            become()
            cur = conn.execute(stmt, params)
            n = cur.fetchone()[0] if rows_needed else cur.rowcount
            raise _Done(n)
    except _Done as done:
        return done.n >= 1, "" if done.n >= 1 else "0 rows"
    except psycopg.Error as exc:
        state = exc.sqlstate or "?"
        if state in _DENIED:
            return False, state
        if state.startswith("23"):
            return True, state
        raise


class _Done(Exception):
    def __init__(self, n: int):
        super().__init__(n)
        self.n = n


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        """select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped
           and attgenerated = '' order by attnum""", (table,)).fetchall()]


def _probe_table(conn, fx: Fixture, table: str, identity: str, roles=ROLES) -> list[Cell]:
    key = fx.key_column[table]
    cols = _columns(conn, table)
    ident = _qualified(table)
    kcol = sql.Identifier(key)
    setcol = sql.Identifier("updated_by" if "updated_by" in cols else key)
    cells = []
    for scope in SCOPES:
        row_key = fx.keys[table][scope]
        image = conn.execute(sql.SQL("select to_jsonb(t) from {} t where {} = %s").format(ident, kcol),
                             (row_key,)).fetchone()[0]
        new_image = dict(image)
        new_image[key] = str(uuid.uuid4()) if key != "code" else f"{image[key]}-copy"
        for role in roles:
            for verb in VERBS:
                rk = row_key
                if table == "core.users" and scope == "in":
                    rk = fx.users[role]  # in scope of users: the caller's own login
                img = new_image
                if verb == "SELECT":
                    stmt = sql.SQL("select count(*) from {} where {} = %s").format(ident, kcol)
                    params: tuple = (rk,)
                elif verb == "INSERT":
                    stmt = sql.SQL("insert into {t} ({c}) select {c} from jsonb_populate_record(null::{t}, %s::jsonb)").format(
                        t=ident, c=sql.SQL(", ").join(sql.Identifier(c) for c in cols))
                    params = (json.dumps(img),)
                elif verb == "UPDATE":
                    stmt = sql.SQL("update {} set {} = {} where {} = %s").format(ident, setcol, setcol, kcol)
                    params = (rk,)
                else:
                    stmt = sql.SQL("delete from {} where {} = %s").format(ident, kcol)
                    params = (rk,)
                staff, user = fx.staff[role], fx.users[role]
                actual, detail = _attempt(conn, stmt, params, rows_needed=verb == "SELECT",
                                          become=lambda: _become(conn, role, staff, user, identity))
                cells.append(Cell(role, table, verb, scope, MATRIX[(role, table, verb, scope)], actual, identity, detail))
    return cells


def _probe_views(conn, fx: Fixture, identity: str) -> list[Cell]:
    """SELECT through the compatibility views (patients, encounter) of a legacy row in and out of
    the caller's scope. In scope: a migrated patient (encounter) given an encounter in (moved to) the
    probe facility; out of scope: another migrated one, whose rows are in no facility of the caller."""
    state = _compat_state(conn)
    schema = state["legacy_schema"]
    cells: list[Cell] = []
    for view, legacy_table, canonical in (("patients", "patients", "core.patients"),
                                          ("encounter", "encounter", "clinical.encounters")):
        if view not in state["views"]:
            continue
        picked = conn.execute(
            """select m.legacy_key, m.canonical_id from ops.legacy_id_map m
               where m.legacy_table = %s and m.canonical_table = %s and m.disposition = 'LOADED'
                 and (select count(*) from ops.legacy_id_map x where x.canonical_table = m.canonical_table
                      and x.canonical_id = m.canonical_id and x.disposition in ('LOADED', 'MERGED')) = 1
                 and (%s <> 'core.patients' or exists (select 1 from clinical.encounters e where e.patient_id = m.canonical_id))
               order by m.legacy_key limit 2""", (legacy_table, canonical, canonical)).fetchall()
        if len(picked) < 2:
            continue
        (in_key, in_id), (out_key, _out_id) = picked
        if canonical == "core.patients":
            conn.execute("""insert into clinical.encounters (patient_id, type, start_at, facility_id)
                            values (%s, 'OPD', now(), %s)""", (in_id, fx.facility_in))
        else:
            conn.execute("update clinical.encounters set facility_id = %s where encounter_id = %s", (fx.facility_in, in_id))
        key_col = conn.execute(
            """select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
               where i.indrelid = %s::regclass and i.indisprimary""", (f"{state['archive_schema']}.{view}",)).fetchone()
        kc = sql.Identifier(key_col[0] if key_col else "id")
        stmt = sql.SQL("select count(*) from {} where {}::text = %s").format(sql.Identifier(schema, view), kc)
        name = f"public.{view}"
        for scope, lk in (("in", in_key), ("out", out_key)):
            for role in ROLES:
                staff, user = fx.staff[role], fx.users[role]
                actual, detail = _attempt(conn, stmt, (lk,), rows_needed=True,
                                          become=lambda: _become(conn, role, staff, user, identity))
                cells.append(Cell(role, name, "SELECT", scope, VIEW_MATRIX[(role, name, "SELECT", scope)], actual,
                                  identity, detail))
    return cells


def verify_matrix(conn: psycopg.Connection, *, identities=IDENTITIES, tables: list[str] | None = None,
                  views: bool = True) -> list[Cell]:
    """Run the matrix live: every (role, table, verb, scope) cell, for each way of giving the caller's
    identity, plus SELECT through the compatibility views when they are on. Everything happens in a
    transaction that is rolled back (the connection must not be inside another one)."""
    missing = _role_exists(conn)
    if missing:
        raise ValueError(f"roles {', '.join(missing)} do not exist (sql/ddl/098_security.sql needs CREATEROLE)")
    wanted = [t for t in (tables or TABLES) if t not in NOT_PROBED]
    cells: list[Cell] = []
    try:
        with conn.transaction():
            fx = _insert_fixture(conn)
            compat_on = views and _archive_schema(conn) is not None
            for identity in identities:
                for table in wanted:
                    cells += _probe_table(conn, fx, table, identity)
                if compat_on:
                    cells += _probe_views(conn, fx, identity)
            raise _Done(0)
    except _Done:
        pass
    return cells


def differences(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if c.expected != c.actual]


def matrix_markdown() -> str:
    """The matrix as the README shows it: one row per table, one column per role, the verbs allowed
    in scope (upper case) and on every row (lower case)."""
    head = "| table | " + " | ".join(r.removeprefix("hms_") for r in ROLES) + " |"
    lines = [head, "|" + "---|" * (len(ROLES) + 1)]
    for table in TABLES:
        row = []
        for role in ROLES:
            if role == "hms_admin":
                row.append("si" if table in _IMMUTABLE else "siud")
                continue
            row.append(ACCESS[table].get(role, "") or "-")
        lines.append(f"| `{table}` | " + " | ".join(row) + " |")
    return "\n".join(lines)
