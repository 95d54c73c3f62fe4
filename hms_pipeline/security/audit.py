"""Audit, phase 5 (issue #14): is every canonical table audited, and does a write as each role reach
``ops.audit_log`` with its actor and with the PHI masked?

The triggers, the masking and the append-only rule are ``sql/ddl/099_audit.sql`` (the schema phase
creates them). This module only reads the catalog and probes:

- :func:`tables_without_audit`: the canonical tables (the rule of 099_audit.sql) that lack an
  enabled ``trg_audit_row`` trigger calling ``ops.audit_row()``;
- :func:`phi_columns`: per audited table, the columns its trigger masks (read from the trigger's
  arguments, i.e. what really happens);
- :func:`audit_probe`: per role, inside ONE transaction that is always rolled back (the log is
  append-only, so nothing can be cleaned up afterwards): writes a probe fixture as the connecting
  owner, then as the role (``SET LOCAL ROLE``, the staff id in ``hms.staff_id`` or in a simulated
  Supabase JWT claim) makes one write that role may make, and checks that the audit row is there with
  the caller's staff id as actor and the probe's PHI value hashed. A role that does not exist is
  reported as not probed (nothing is created). Results hold names, booleans and SQLSTATEs only.

No Dagster here (engine layer).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

AUDITED_SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ref", "ops")
# Not audited, on purpose (see 099_audit.sql): the log itself and the pipeline's bookkeeping.
NOT_AUDITED = ("ops.audit_log", "ops.legacy_id_map", "ops.quarantine", "ops.legacy_kept")
TRIGGER = "trg_audit_row"
ROLES = ("hms_doctor", "hms_nurse", "hms_pharmacy", "hms_billing", "hms_admin")
IDENTITIES = ("guc", "jwt")

_CANONICAL = """
select n.nspname || '.' || c.relname as name, c.oid
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p') and not c.relispartition
  and n.nspname || '.' || c.relname <> all(%(skipped)s)
"""

_AUDIT_TRIGGERS = """
select t.tgrelid, t.tgargs
from pg_trigger t
where t.tgname = %(trigger)s and not t.tgisinternal and t.tgenabled <> 'D'
  and t.tgfoid = 'ops.audit_row()'::regprocedure
"""


def canonical_tables(conn: psycopg.Connection) -> list[str]:
    """The tables 099_audit.sql audits, as ``schema.table``, from the catalog."""
    rows = conn.execute(_CANONICAL, {"schemas": list(AUDITED_SCHEMAS), "skipped": list(NOT_AUDITED)}).fetchall()
    return sorted(name for name, _ in rows)


def _triggers(conn: psycopg.Connection) -> dict[int, bytes]:
    if conn.execute("select to_regprocedure('ops.audit_row()') is null").fetchone()[0]:
        return {}
    return {oid: bytes(args) for oid, args in conn.execute(_AUDIT_TRIGGERS, {"trigger": TRIGGER}).fetchall()}


def tables_without_audit(conn: psycopg.Connection) -> list[str]:
    """Canonical tables lacking an enabled audit trigger (empty: every table is audited)."""
    triggers = _triggers(conn)
    rows = conn.execute(_CANONICAL, {"schemas": list(AUDITED_SCHEMAS), "skipped": list(NOT_AUDITED)}).fetchall()
    return sorted(name for name, oid in rows if oid not in triggers)


def phi_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Per audited table, the columns its trigger hashes (the trigger's second argument)."""
    triggers = _triggers(conn)
    out = {}
    for name, oid in conn.execute(_CANONICAL, {"schemas": list(AUDITED_SCHEMAS),
                                               "skipped": list(NOT_AUDITED)}).fetchall():
        if oid in triggers:
            args = triggers[oid].split(b"\x00")
            phi = args[1].decode() if len(args) > 1 else ""
            out[name] = [c for c in phi.split(",") if c]
    return dict(sorted(out.items()))


# --- the live probe -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    role: str
    identity: str
    probed: bool
    table: str = ""
    verb: str = ""
    logged: bool = False  # an audit row for the probe row appeared
    actor_ok: bool = False  # its actor_user_id is the caller's staff id
    masked_ok: bool = False  # the probe's PHI value is absent from the row, a hash stands in its place
    detail: str = ""  # "role missing", a SQLSTATE, "0 rows": never a value

    @property
    def ok(self) -> bool:
        return self.probed and self.logged and self.actor_ok and self.masked_ok

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


# The owner's fixture: a facility the callers work in, a patient with an encounter there (so the
# patient is in every clinical role's scope), an item, an invoice. Ids are bound, names are fixed
# probe markers (no real value).
_FIXTURE = """
insert into core.facilities (facility_id, name, timezone) values (%(fac)s, 'audit-probe ' || %(tag)s, 'UTC');
insert into core.departments (department_id, facility_id, name, type) values (%(dep)s, %(fac)s, 'audit-probe ' || %(tag)s, 'OPD');
insert into core.staff_roles (role_id, name) values (%(role)s, 'audit-probe ' || %(tag)s);
insert into core.persons (person_id) values (%(person)s);
insert into core.patients (patient_id, person_id, uhid) values (%(patient)s, %(person)s, 'AUDITPROBE-' || %(tag)s);
insert into pharmacy.items (item_id, code, name) values (%(item)s, 'AUDITPROBE-' || %(tag)s, 'audit-probe ' || %(tag)s);
insert into billing.invoices (invoice_id, patient_id, status) values (%(invoice)s, %(patient)s, 'DRAFT')
"""

# Per role: (table, verb, key column, statement). %(secret)s is the probe's PHI value (a random
# marker), written into a masked column; %(key)s the probe row's key. Each is a write the role's
# grants and policies allow (sql/ddl/098_security.sql): clinical roles and admin update the
# patient's person (in scope through the encounter), pharmacy receives stock in its facility,
# billing records a payment.
_WRITES: dict[str, tuple[str, str, str, str]] = {
    "hms_doctor": ("core.persons", "UPDATE", "person_id",
                   "update core.persons set phone = %(secret)s where person_id = %(key)s"),
    "hms_nurse": ("core.persons", "UPDATE", "person_id",
                  "update core.persons set phone = %(secret)s where person_id = %(key)s"),
    "hms_admin": ("core.persons", "UPDATE", "person_id",
                  "update core.persons set phone = %(secret)s where person_id = %(key)s"),
    "hms_pharmacy": ("pharmacy.inventory_txns", "INSERT", "txn_id",
                     "insert into pharmacy.inventory_txns (txn_id, item_id, facility_id, txn_type, qty, legacy_attributes)"
                     " values (%(key)s, %(item)s, %(fac)s, 'GRN', 1, jsonb_build_object('note', %(secret)s::text))"),
    "hms_billing": ("billing.payments", "INSERT", "payment_id",
                    "insert into billing.payments (payment_id, invoice_id, amount, ref_no)"
                    " values (%(key)s, %(invoice)s, 1, %(secret)s)"),
}


def _existing_roles(conn: psycopg.Connection, roles) -> set[str]:
    return {r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)", (list(roles),)).fetchall()}


def _become(conn: psycopg.Connection, role: str, staff_id: uuid.UUID, identity: str) -> None:
    if identity == "guc":
        claims, staff = "", str(staff_id)
    elif identity == "jwt":
        claims, staff = json.dumps({"role": role, "staff_id": str(staff_id)}), ""
    else:
        raise ValueError(f"unknown identity {identity!r}")
    conn.execute("select set_config('request.jwt.claims', %s, true), set_config('hms.staff_id', %s, true)",
                 (claims, staff))
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))


def _probe_one(conn: psycopg.Connection, role: str, identity: str, ids: dict) -> ProbeResult:
    table, verb, key_col, stmt = _WRITES[role]
    staff_id, person = uuid.uuid4(), uuid.uuid4()
    conn.execute("insert into core.persons (person_id) values (%s)", (person,))
    conn.execute("insert into core.staff (staff_id, person_id, department_id, role_id) values (%s, %s, %s, %s)",
                 (staff_id, person, ids["dep"], ids["role"]))
    # the clinical roles' scope: an encounter of the patient in the caller's facility, attended by them
    conn.execute("""insert into clinical.encounters (patient_id, type, start_at, attending_doctor_id, facility_id)
                    values (%s, 'OPD', now(), %s, %s)""", (ids["patient"], staff_id, ids["fac"]))
    key = ids["person"] if table == "core.persons" else uuid.uuid4()
    secret = "AUDITPROBE-" + uuid.uuid4().hex  # the PHI stand-in: must never reach the log as is
    params = {**ids, "key": key, "secret": secret}
    mark = conn.execute("select coalesce(max(audit_id), 0) from ops.audit_log").fetchone()[0]
    result = dict(role=role, identity=identity, probed=True, table=table, verb=verb)
    try:
        with conn.transaction():
            _become(conn, role, staff_id, identity)
            written = conn.execute(sql.SQL(stmt), params).rowcount  # type: ignore[arg-type]  # a constant of this module
            conn.execute("reset role")
            conn.execute("select set_config('request.jwt.claims', '', true), set_config('hms.staff_id', '', true)")
    except psycopg.Error as exc:
        conn.execute("reset role")
        return ProbeResult(**result, detail=exc.sqlstate or "error")
    if not written:
        return ProbeResult(**result, detail="0 rows")
    row = conn.execute(
        """select actor_user_id, (coalesce(before::text, '') || coalesce(after::text, '')) like '%%' || %s || '%%',
                  coalesce(after::text, '') like '%%sha256:%%'
           from ops.audit_log where audit_id > %s and table_name = %s and action = %s
             and pk = jsonb_build_object(%s::text, %s::text)
           order by audit_id desc limit 1""",
        (secret, mark, table, verb, key_col, str(key))).fetchone()
    if row is None:
        return ProbeResult(**result, detail="no audit row")
    actor, leaked, hashed = row
    return ProbeResult(**result, logged=True, actor_ok=actor == staff_id, masked_ok=(not leaked) and hashed)


def audit_probe(conn: psycopg.Connection, roles=ROLES, identities=("guc",)) -> list[ProbeResult]:
    """Per role (and identity: ``guc`` = ``hms.staff_id``, ``jwt`` = a Supabase claim staff_id), make
    one write as that role and check the audit log; everything is rolled back. Missing roles are
    reported ``probed=False`` with detail "role missing"."""
    present = _existing_roles(conn, roles)
    results = [ProbeResult(role, identity, False, detail="role missing")
               for role in roles if role not in present for identity in identities]
    todo = [r for r in roles if r in present]
    if not todo:
        return results
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    tag = uuid.uuid4().hex[:10]
    ids = {"tag": tag, **{k: uuid.uuid4() for k in ("fac", "dep", "role", "person", "patient", "item", "invoice")}}
    with conn.transaction(force_rollback=True):
        for stmt in filter(str.strip, _FIXTURE.split(";")):
            conn.execute(stmt, ids)
        for role in todo:
            if role not in _WRITES:
                results += [ProbeResult(role, identity, False, detail="no probe write defined") for identity in identities]
                continue
            for identity in identities:
                results.append(_probe_one(conn, role, identity, ids))
    order = {r: i for i, r in enumerate(roles)}
    return sorted(results, key=lambda r: (order[r.role], r.identity))
