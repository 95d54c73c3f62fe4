"""Writes to a generated legacy database, as the old application would make them, and the checks a
delta must pass afterwards (used by test_delta_properties.py and test_concurrent_writer.py).

A write is chosen by small integers (a table, a column, a way to change it, offsets into the current
rows), so a Hypothesis strategy or a seeded ``random.Random`` can drive it, and every write is
deterministic given them. A write the legacy schema refuses (a CHECK, a unique key, a length) is
rolled back to a savepoint and reported as ``None``: it simply did not happen.

Checks:

* :func:`delta_equals_full_load`: the canonical rows of the delta database (every column but the
  bookkeeping ones, see ``backfill_helpers.fingerprint``) and its provenance equal those of a fresh
  database loaded in one full run from a copy of the same legacy rows; a difference is described
  table by table with the rows on each side;
* :func:`identity_problems`: the run succeeded, every canonical asset ran and every blocking check
  passed (``reconciliation``: every staged legacy row is loaded, merged or quarantined, no live row
  points at a soft-deleted parent);
* :func:`staging_problems`: every legacy row is staged with its current content, and nothing that
  is gone from legacy is staged as live (the snapshot missed no change).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import threading
import time
import uuid
from collections.abc import Iterable

import psycopg
from psycopg import errors, sql

from backfill_helpers import backfill_job, fingerprint
from conftest import create_database

SCHEMA = "public"
EXCLUDED = {"medications_backup"}  # never staged (copy of medications)

# Columns a write may change, per legacy table: the ones the transforms read (identity, links,
# derived values). Tables or columns a profile lacks are skipped.
COLUMNS: dict[str, list[str]] = {
    "patients": ["name", "phone", "date_of_birth", "created_at", "gender", "email", "allergies",
                 "medical_history", "chronic_conditions", "initial_symptoms", "primary_complaint", "height",
                 "weight", "temperature", "bp_systolic", "pulse", "address", "patient_id"],
    "users": ["name", "email", "phone", "role", "employee_id", "status", "created_at", "auth_id"],
    "staff": ["first_name", "last_name", "email", "phone", "department_id", "role", "user_id", "is_active",
              "deleted_at", "created_at"],
    "doctors": ["user_id", "specialization", "status", "deleted_at", "availability_hours"],
    "departments": ["name", "status", "head_of_department"],
    "encounter": ["end_at", "start_at", "patient_id", "clinician_id", "status_id", "type_id", "department_id"],
    "appointment": ["status_id", "scheduled_at", "created_at"],
    "appointments": ["status_id", "scheduled_at", "encounter_id", "id"],
    "patient_visits": ["patient_id", "doctor_id", "visit_date", "visit_time", "symptoms", "current_complaints",
                       "status", "appointment_id", "visit_type"],
    "vitals": ["heart_rate", "temperature", "patient_id", "encounter_id", "recorded_at", "blood_pressure_systolic",
               "oxygen_saturation", "recorded_by"],
    "patient_allergies": ["allergen", "patient_id", "severity"],
    "patient_symptoms": ["symptom_name", "patient_id", "onset_date", "recorded_at"],
    "medical_history": ["condition_name", "patient_id", "status", "diagnosis_date"],
    "lab_tests": ["test_name", "sample_type", "status", "test_code"],
    "lab_reports": ["test_name", "status", "patient_id", "doctor_id", "sample_collected_date", "report_date",
                    "results"],
    "lab_result_value": ["value", "parameter_name", "unit_id", "normal_range", "lab_report_id"],
    "beds": ["status", "bed_type", "department_id", "room_number", "bed_number"],
    "bed_allocations": ["discharge_date", "admission_date", "status", "bed_id", "patient_id", "encounter_id",
                        "doctor_id", "ip_number"],
    "patient_admissions": ["discharge_date", "status", "bed_allocation_id", "admission_date", "patient_id"],
    "medications": ["name", "category", "dosage_form", "strength", "medication_code", "status", "is_active"],
    "medicines": ["name", "category", "dosage_form", "strength", "medication_code", "status"],
    "ref_code": ["label", "active", "code"],
}
# The tables a write picks from, the important ones more often.
WEIGHTED_TABLES = (["patients"] * 4 + ["encounter"] * 3 + ["appointment"] * 2 + ["bed_allocations"] * 2
                   + ["users", "staff", "doctors", "departments", "appointments", "patient_visits", "vitals",
                      "patient_allergies", "patient_symptoms", "medical_history", "lab_tests", "lab_reports",
                      "lab_result_value", "beds", "patient_admissions", "medications", "medicines", "ref_code"])
# Tables the random writer deletes from (rows nothing references)
DELETABLE = ("vitals", "patient_symptoms", "medical_history", "lab_result_value", "patient_allergies", "appointments",
             "patient_visits", "medicines")
HOWS = 4  # ways to change a value (see _new_value)

CLOCK_START = dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.timezone.utc)  # after the generator's as-of
BACKDATED_START = dt.datetime(2019, 6, 1, 8, 0, tzinfo=dt.timezone.utc)  # long before any watermark


# ------------------------------------------------------------------------------------------ catalog

@dataclasses.dataclass
class Column:
    name: str
    type: str  # format_type without modifier
    length: int | None  # varchar(n)
    not_null: bool


@dataclasses.dataclass
class Table:
    name: str
    columns: dict[str, Column]
    pk: str | None  # the primary key, else the id column
    unique: list[list[str]]  # unique indexes other than the primary key
    children: list[tuple[str, str, str]]  # (child table, child column, our column) of FKs pointing here
    parents: dict[str, tuple[str, str]]  # our column -> (parent table, parent column)

    @property
    def stamped(self) -> bool:
        return "updated_at" in self.columns


def catalog(conn: psycopg.Connection) -> dict[str, Table]:
    """The legacy base tables with their columns, keys and foreign keys."""
    tables: dict[str, Table] = {}
    for name, in conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = %s and c.relkind = 'r' order by 1""", (SCHEMA,)).fetchall():
        cols = {}
        for col, typ, typmod, notnull in conn.execute(
                """select a.attname, format_type(a.atttypid, null), a.atttypmod, a.attnotnull from pg_attribute a
                   where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
                (f"{SCHEMA}.{name}",)).fetchall():
            length = typmod - 4 if typ == "character varying" and typmod > 4 else None
            cols[col] = Column(col, typ, length, notnull)
        pk = None
        unique = []
        for cols_, primary in conn.execute(
                """select array(select a.attname::text from unnest(i.indkey) with ordinality k(n, o)
                                join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n order by k.o),
                          i.indisprimary
                   from pg_index i where i.indrelid = %s::regclass and i.indisunique""",
                (f"{SCHEMA}.{name}",)).fetchall():
            if primary and len(cols_) == 1:
                pk = cols_[0]
            elif not primary:
                unique.append(list(cols_))
        if pk is None and "id" in cols:  # a copy table without a key (blueprint appointments, medicines)
            pk = "id"
        tables[name] = Table(name, cols, pk, unique, [], {})
    for child, ccol, parent, pcol in conn.execute(
            """select c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, af.attname
               from pg_constraint c
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
               join pg_attribute af on af.attrelid = c.confrelid and af.attnum = c.confkey[1]
               join pg_namespace n on n.oid = (select relnamespace from pg_class where oid = c.conrelid)
               where c.contype = 'f' and n.nspname = %s""", (SCHEMA,)).fetchall():
        child, parent = child.split(".")[-1], parent.split(".")[-1]
        if child in tables and parent in tables:
            tables[parent].children.append((child, ccol, pcol))
            tables[child].parents[ccol] = (parent, pcol)
    return tables


def writable_tables(cat: dict[str, Table]) -> list[str]:
    """WEIGHTED_TABLES this profile has as base tables with a key."""
    return [t for t in WEIGHTED_TABLES if t in cat and cat[t].pk]


# ------------------------------------------------------------------------------------------ writes

def _ident(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, name)


def _nth_key(conn, t: Table, offset: int, where: sql.Composable = sql.SQL("true")):
    """The key of the row at ``offset`` (modulo the row count) in key order among rows matching
    ``where``; None when there is none."""
    n = conn.execute(sql.SQL("select count(*) from {} x where {}").format(_table(t.name), where)).fetchone()[0]
    if not n:
        return None
    return conn.execute(sql.SQL("select x.{pk} from {t} x where {w} order by x.{pk} offset %s limit 1").format(
        pk=_ident(t.pk), t=_table(t.name), w=where), (offset % n,)).fetchone()[0]


class _NoChange(Exception):
    """The write would leave the row as it was."""


class LegacyWriter:
    """Makes writes on one connection (autocommit off: the caller commits). ``clock`` stamps
    ordinary writes (``updated_at``/``created_at``), ``backdated`` stamps backdated inserts; both
    advance one minute per write so every run of the same writes gives the same rows."""

    def __init__(self, conn: psycopg.Connection, *, clock: dt.datetime = CLOCK_START,
                 backdated: dt.datetime = BACKDATED_START, tag: str = "hy", use_now: bool = False):
        self.conn = conn
        self.cat = catalog(conn)
        self.tables = writable_tables(self.cat)
        self.clock = clock
        self.backdated = backdated
        self.tag = tag  # in new ids and unique values: distinct per writer
        self.n = 0
        self.use_now = use_now  # the concurrent writer stamps with the wall clock, like the application
        self.deleted_from: set[str] = set()

    # -- helpers

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _stamp(self, backdated: bool = False) -> dt.datetime:
        if self.use_now and not backdated:
            return dt.datetime.now(dt.timezone.utc)
        base = self.backdated if backdated else self.clock
        return base + dt.timedelta(minutes=self.n)

    def _new_id(self, n: int) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"hms-test:{self.tag}:{n}")

    def _attempt(self, fn, *args):
        """Run a write in a savepoint; None (nothing written) when the legacy schema refuses it."""
        try:
            with self.conn.transaction():
                return fn(*args)
        except _NoChange:
            return None
        except (errors.IntegrityError, errors.DataError) as exc:
            return None if not os.environ.get("HMS_WRITES_DEBUG") else f"refused: {type(exc).__name__}"

    # -- update

    def update(self, table: str, col_i: int, how: int, offset: int, other: int, keep_stamp: bool) -> str | None:
        """Change one column of one row: ``how`` 0 another row's value, 1 an altered value, 2 NULL,
        3 a case change / a far value. ``keep_stamp`` leaves ``updated_at`` as it was."""
        t = self.cat.get(table)
        if t is None or not t.pk:
            return None
        cols = [c for c in COLUMNS.get(table, []) if c in t.columns]
        if not cols:
            return None
        col = t.columns[cols[col_i % len(cols)]]
        key = _nth_key(self.conn, t, offset)
        if key is None:
            return None
        return self._attempt(self._update, t, col, how % HOWS, key, other, keep_stamp)

    def _new_value(self, t: Table, col: Column, how: int, key, other: int) -> tuple[sql.Composable, list]:
        c = sql.SQL("x.{}").format(_ident(col.name))
        n = self._next()
        if how == 2:
            return sql.SQL("null"), []
        if how == 0 or col.type in ("uuid", "jsonb", "text[]"):
            # another row's value of the same column (a link to another parent, a duplicate, ...)
            other_key = _nth_key(self.conn, t, other, sql.SQL("x.{} is not null").format(_ident(col.name)))
            if other_key is None:
                return sql.SQL("null"), []
            return sql.SQL("(select y.{c} from {t} y where y.{pk} = %s and y.{c} is not null limit 1)").format(
                c=_ident(col.name), t=_table(t.name), pk=_ident(t.pk)), [other_key]
        if col.type in ("text", "character varying"):
            if "phone" in col.name:
                return (sql.SQL("%s") if how == 1 else sql.SQL("'+91 ' || {}").format(c)), (
                    [f"9{n % 10}{(self.n * 7919 + other) % 10**8:08d}"] if how == 1 else [])
            if "email" in col.name:
                return sql.SQL("%s || {}").format(c) if how == 1 else sql.SQL("upper({})").format(c), (
                    [f"{self.tag}{n}."] if how == 1 else [])
            if how == 1:
                return sql.SQL("{} || %s").format(c), [f" {self.tag.upper()}{n}"]
            return sql.SQL("upper({})").format(c), []
        if col.type == "timestamp with time zone":
            return (sql.SQL("{} + interval '1 hour'") if how == 1 else sql.SQL("{} - interval '400 days'")).format(c), []
        if col.type == "date":
            return (sql.SQL("{} + 1") if how == 1 else sql.SQL("{} - 400")).format(c), []
        if col.type == "time without time zone":
            return sql.SQL("{} + interval '1 hour'").format(c), []
        if col.type in ("integer", "numeric", "bigint", "smallint"):
            return (sql.SQL("{} + 1") if how == 1 else sql.SQL("{} * 10")).format(c), []
        if col.type == "boolean":
            return sql.SQL("not {}").format(c), []
        return sql.SQL("null"), []

    def _update(self, t: Table, col: Column, how: int, key, other: int, keep_stamp: bool) -> str | None:
        value, params = self._new_value(t, col, how, key, other)
        sets = [sql.SQL("{} = {}").format(_ident(col.name), value)]
        if t.stamped and not keep_stamp and col.name != "updated_at":
            sets.append(sql.SQL("updated_at = %s"))
            params = params + [self._stamp()]
        # ``old`` is the row as it was: a write that changes nothing is not a write
        changed = self.conn.execute(sql.SQL(
            """update {t} x set {sets} from {t} old where old.{pk} = x.{pk} and x.{pk} = %s
               returning old.{c} is distinct from x.{c}""").format(
            t=_table(t.name), sets=sql.SQL(", ").join(sets), pk=_ident(t.pk), c=_ident(col.name)),
            params + [key]).fetchone()
        if not changed or not changed[0]:
            raise _NoChange
        return f"update {t.name}.{col.name} (how {how}{', keep updated_at' if keep_stamp else ''}) of {key}"

    # -- insert

    def insert(self, table: str, offset: int, backdated: bool, col_i: int | None = None, how: int = 1,
               other: int = 0) -> str | None:
        """A new row copied from the row at ``offset`` with a new key and new unique values, stamped
        now (or long ago), then one column changed (``col_i``/``how``/``other`` as in update)."""
        t = self.cat.get(table)
        if t is None or not t.pk or t.columns[t.pk].type != "uuid":
            return None
        key = _nth_key(self.conn, t, offset)
        if key is None:
            return None

        def go():
            new = self._copy(t, key, backdated)
            if new is None:
                return None
            desc = f"{'backdated ' if backdated else ''}insert {t.name} {new} (copy of {key})"
            if col_i is not None:
                cols = [c for c in COLUMNS.get(table, []) if c in t.columns and c != t.pk]
                if cols:
                    col = t.columns[cols[col_i % len(cols)]]
                    changed = self._attempt(self._update, t, col, how % HOWS, new, other, True)
                    if changed:
                        desc += f", then {col.name} (how {how % HOWS})"
            return desc

        return self._attempt(go)

    def _copy(self, t: Table, key, backdated: bool, depth: int = 0):
        n = self._next()
        new_id = self._new_id(n)
        exprs, params = [], []
        uniques = {u[-1] if len(u) > 1 else u[0]: u for u in t.unique}
        stamp = self._stamp(backdated)
        for col in t.columns.values():
            c = sql.SQL("x.{}").format(_ident(col.name))
            if col.name == t.pk:
                exprs.append(sql.SQL("%s"))
                params.append(new_id)
            elif col.name in uniques and col.type in ("text", "character varying"):
                exprs.append(sql.SQL("left(%s || coalesce({}, ''), %s)").format(c))
                params += [f"{self.tag}{n}-", col.length or 1000]
            elif col.name in uniques and col.type in ("integer", "bigint"):
                exprs.append(sql.SQL("(select coalesce(max(y.{c}), 0) + 1 from {t} y)").format(
                    c=_ident(col.name), t=_table(t.name)))
            elif col.name in uniques and col.type == "uuid":
                # a 1:1 link (appointment.encounter_id, doctors.user_id): copy the parent too
                parent = t.parents.get(col.name) or ({"user_id": ("users", "id")}.get(col.name) if t.name == "doctors" else None)
                if parent is None or depth > 1:
                    return None
                pkey = self.conn.execute(sql.SQL("select {} from {} where {} = %s").format(
                    _ident(col.name), _table(t.name), _ident(t.pk)), (key,)).fetchone()[0]
                ptab = self.cat[parent[0]]
                if pkey is None or ptab.columns[ptab.pk].type != "uuid":
                    return None
                pnew = self._copy(ptab, pkey, backdated, depth + 1)
                if pnew is None:
                    return None
                exprs.append(sql.SQL("%s"))
                params.append(pnew)
            elif col.name in ("created_at", "updated_at"):
                exprs.append(sql.SQL("%s"))
                params.append(stamp)
            else:
                exprs.append(c)
        self.conn.execute(sql.SQL("insert into {t} ({cols}) select {exprs} from {t} x where x.{pk} = %s").format(
            t=_table(t.name), cols=sql.SQL(", ").join(_ident(c) for c in t.columns), exprs=sql.SQL(", ").join(exprs),
            pk=_ident(t.pk)), params + [key])
        return new_id

    # -- delete

    def delete(self, table: str, offset: int) -> str | None:
        """Delete one row no foreign key points at."""
        t = self.cat.get(table)
        if t is None or not t.pk:
            return None
        free = [sql.SQL("not exists (select 1 from {c} r where r.{cc} = x.{pc})").format(
            c=_table(child), cc=_ident(ccol), pc=_ident(pcol)) for child, ccol, pcol in t.children]
        key = _nth_key(self.conn, t, offset, sql.SQL(" and ").join(free) if free else sql.SQL("true"))
        if key is None:
            return None

        def go():
            self.conn.execute(sql.SQL("delete from {} where {} = %s").format(_table(t.name), _ident(t.pk)), (key,))
            self.deleted_from.add(t.name)
            return f"delete {t.name} {key}"

        return self._attempt(go)

    # -- a link that breaks

    def unlink(self, table: str, col_i: int, offset: int, dangling: bool, keep_stamp: bool) -> str | None:
        """A link column (a uuid other than the key) of one row becomes NULL, or, where no foreign key
        guards it, an id nothing has (a dangling link: doctors.user_id, appointments.encounter_id, ...)."""
        t = self.cat.get(table)
        if t is None or not t.pk:
            return None
        links = [c for c in t.columns.values() if c.type == "uuid" and c.name != t.pk
                 and (not c.not_null or (dangling and c.name not in t.parents))]
        if not links:
            return None
        col = links[col_i % len(links)]
        key = _nth_key(self.conn, t, offset, sql.SQL("x.{} is not null").format(_ident(col.name)))
        if key is None:
            return None
        dangle = dangling and col.name not in t.parents
        value = self._new_id(self._next()) if dangle else None

        def go():
            stamp = sql.SQL(", updated_at = %s") if t.stamped and not keep_stamp else sql.SQL("")
            self.conn.execute(sql.SQL("update {t} set {c} = %s{stamp} where {pk} = %s").format(
                t=_table(t.name), c=_ident(col.name), stamp=stamp, pk=_ident(t.pk)),
                [value] + ([self._stamp()] if t.stamped and not keep_stamp else []) + [key])
            return (f"unlink {t.name}.{col.name} of {key} ({'dangling' if dangle else 'NULL'}"
                    f"{', keep updated_at' if keep_stamp else ''})")

        return self._attempt(go)

    # -- writes aimed at derived identities

    def split_merged_pair(self, offset: int, member: int, keep_stamp: bool) -> str | None:
        """Give one registration of a merged duplicate pair (same name, mobile, date of birth) a new
        phone: the two are different people from now on."""
        groups = self.conn.execute(
            f"""select array_agg(id order by created_at, patient_id, id) from {SCHEMA}.patients
                where name !~* '^patient\\s' and length(etl.norm_mobile(phone)) >= 10 and etl.norm_name(name) is not null
                group by etl.norm_name(name), etl.norm_mobile(phone), date_of_birth having count(*) > 1
                order by 1""").fetchall()
        if not groups:
            return None
        ids = groups[offset % len(groups)][0]
        key = ids[member % len(ids)]
        n = self._next()
        phone = f"98{(n * 104729 + offset) % 10**8:08d}"

        def go():
            if keep_stamp:
                self.conn.execute(f"update {SCHEMA}.patients set phone = %s where id = %s", (phone, key))
            else:
                self.conn.execute(f"update {SCHEMA}.patients set phone = %s, updated_at = %s where id = %s",
                                  (phone, self._stamp(), key))
            return (f"split merged pair: patients.phone of {key} ({'survivor' if member % len(ids) == 0 else 'duplicate'}"
                    f" of {len(ids)}){' keep updated_at' if keep_stamp else ''}")

        return self._attempt(go)

    def make_duplicate(self, a: int, b: int, keep_stamp: bool) -> str | None:
        """Registration b takes a's name, phone and date of birth: a duplicate of the same person."""
        t = self.cat["patients"]
        real = sql.SQL("x.name !~* '^patient\\s' and length(etl.norm_mobile(x.phone)) >= 10")
        ka = _nth_key(self.conn, t, a, real)
        kb = _nth_key(self.conn, t, b)
        if ka is None or kb is None or ka == kb:
            return None

        def go():
            stamp = sql.SQL("") if keep_stamp else sql.SQL(", updated_at = %s")
            self.conn.execute(sql.SQL(
                """update {t} p set name = s.name, phone = s.phone, date_of_birth = s.date_of_birth {stamp}
                   from {t} s where s.id = %s and p.id = %s""").format(t=_table("patients"), stamp=stamp),
                ([] if keep_stamp else [self._stamp()]) + [ka, kb])
            return f"make duplicate: patients {kb} takes name/phone/dob of {ka}{' keep updated_at' if keep_stamp else ''}"

        return self._attempt(go)

    def end_encounter(self, offset: int, keep_stamp: bool, reopen: bool = False) -> str | None:
        """Close (or reopen) the encounter of an appointment whose status is derived (status_id NULL)."""
        if "encounter" not in self.cat or "appointment" not in self.cat:
            return None
        cond = "e.end_at is not null" if reopen else "e.end_at is null"
        rows = self.conn.execute(
            f"""select e.id from {SCHEMA}.encounter e where {cond} and exists (
                    select 1 from {SCHEMA}.appointment a where a.encounter_id = e.id and a.status_id is null)
                order by e.id""").fetchall()
        if not rows:
            rows = self.conn.execute(f"select e.id from {SCHEMA}.encounter e where {cond} order by e.id").fetchall()
        if not rows:
            return None
        key = rows[offset % len(rows)][0]
        value = "null" if reopen else "e.start_at + interval '25 minutes'"

        def go():
            stamp = "" if keep_stamp else ", updated_at = %s"
            self.conn.execute(f"update {SCHEMA}.encounter e set end_at = {value}{stamp} where e.id = %s",
                              ([] if keep_stamp else [self._stamp()]) + [key])
            return f"{'reopen' if reopen else 'end'} encounter {key}{' keep updated_at' if keep_stamp else ''}"

        return self._attempt(go)

    def random_write(self, rng: random.Random) -> str | None:
        """One write chosen by ``rng`` (the concurrent writer)."""
        kind = rng.choices(["update", "insert", "delete", "split", "dup", "end", "unlink"], [10, 4, 1, 1, 1, 2, 2])[0]
        table = rng.choice(self.tables)
        r = lambda: rng.randrange(10**6)  # noqa: E731
        if kind == "update":
            return self.update(table, r(), r() % HOWS, r(), r(), rng.random() < 0.3)
        if kind == "insert":
            return self.insert(table, r(), rng.random() < 0.3, r(), r() % HOWS, r())
        if kind == "delete":
            return self.delete(rng.choice(DELETABLE), r())
        if kind == "split":
            return self.split_merged_pair(r(), r(), rng.random() < 0.3)
        if kind == "unlink":
            return self.unlink(table, r(), r(), rng.random() < 0.5, rng.random() < 0.3)
        if kind == "dup":
            return self.make_duplicate(r(), r(), rng.random() < 0.3)
        return self.end_encounter(r(), rng.random() < 0.3, reopen=rng.random() < 0.3)


# ------------------------------------------------------------------------------------------ runs

def run_delta(monkeypatch, url: str, *, accept_deletions: Iterable[str] = (), full: bool = False):
    """The backfill phase without the GX suites (see backfill_helpers.run_backfill), with
    ``accept_deletions`` passed through run config; sweep change detection."""
    import dagster as dg

    monkeypatch.setenv("HMS_DATABASE_URL", url)
    for var in ("HMS_LEGACY_DATABASE_URL", "HMS_CHANGE_DETECTION", "HMS_MAX_SHRINK", "HMS_LEGACY_SCHEMA"):
        monkeypatch.delenv(var, raising=False)
    return backfill_job(suites=False).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "ERROR"}}},
            "resources": {"backfill_options": {"config": {"full_refresh": full,
                                                          "accept_deletions": sorted(accept_deletions)}}},
        },
    )


def identity_problems(result) -> list[str]:
    """Why a run does not hold its identities: failure, a canonical asset not materialized, a
    blocking check (reconciliation) that failed or did not run."""
    problems = []
    if not result.success:
        for ev in result.all_events:
            if ev.is_failure:
                problems.append(f"step failed: {ev.step_key}: {ev.event_specific_data.error.message.strip()[:500]}"
                                if getattr(ev.event_specific_data, "error", None) else f"failure: {ev.message}")
        problems = problems or ["run failed"]
    evaluated = {}
    for e in result.get_asset_check_evaluations():
        evaluated[(e.asset_key.to_user_string(), e.check_name)] = e
        if not e.passed and e.severity.value == "ERROR":
            problems.append(f"{e.asset_key.to_user_string()}:{e.check_name} failed: {e.description}"
                            f" {dict((k, getattr(v, 'value', v)) for k, v in e.metadata.items() if k != 'reconciliation')}")
    materialized = {ev.step_materialization_data.materialization.asset_key.to_user_string()
                    for ev in result.get_asset_materialization_events()}
    canonical = [k for k in materialized if k.split("/")[0] in ("core", "clinical", "inpatient", "pharmacy", "ref")]
    if not canonical:
        problems.append("no canonical asset materialized")
    for key in canonical:
        if (key, "reconciliation") not in evaluated:
            problems.append(f"{key}: no reconciliation check evaluated")
    return problems


def staging_problems(url: str) -> list[str]:
    """Every legacy row staged with its current content, nothing gone from legacy staged as live."""
    problems = []
    with psycopg.connect(url) as conn:
        conn.execute("set timezone = 'UTC'")
        for name, t in catalog(conn).items():
            if name in EXCLUDED or not t.pk:
                continue
            if not conn.execute("select to_regclass(%s) is not null", (f"stg.{name}",)).fetchone()[0]:
                continue
            cols = sql.SQL(", ").join(_ident(c) for c in t.columns)
            q = sql.SQL("""select
                   (select count(*) from (select {cols} from {l} except all select {cols} from {s} where not _deleted) a),
                   (select count(*) from (select {cols} from {s} where not _deleted except all select {cols} from {l}) b)""").format(
                cols=cols, l=_table(name), s=sql.Identifier("stg", name))
            missing, stale = conn.execute(q).fetchone()
            keyed = conn.execute(
                """select exists (select 1 from pg_index i where i.indrelid = %s::regclass and i.indisunique
                                  and i.indnatts = 1 and i.indpred is null and i.indkey[0] = (
                                      select attnum from pg_attribute where attrelid = %s::regclass and attname = %s))""",
                (f"{SCHEMA}.{name}",) * 2 + (t.pk,)).fetchone()[0]
            if not keyed:
                # rows of a NULL or repeated key are kept out of stg, each one in etl.stage_rejects
                expected = conn.execute(sql.SQL(
                    """select count(*) filter (where {k} is null)
                              + coalesce(sum(n - 1) filter (where {k} is not null), 0)
                       from (select {k}, count(*) as n from {l} group by {k}) g""").format(
                    k=_ident(t.pk), l=_table(name))).fetchone()[0]
                rejects = conn.execute("select count(*) from etl.stage_rejects where legacy_table = %s",
                                       (name,)).fetchone()[0]
                if rejects != expected:
                    problems.append(f"etl.stage_rejects: {rejects} rows of {name}, {expected} repeated or NULL keys "
                                    "in legacy")
                missing -= expected
            if missing or stale:
                problems.append(f"stg.{name}: {missing} legacy rows not staged as they are, {stale} staged rows "
                                "not in legacy as staged")
    return problems


def copy_legacy(src_url: str, dst_url: str) -> None:
    """Replace the legacy rows of ``dst_url`` by those of ``src_url`` (same legacy schema)."""
    with psycopg.connect(src_url) as src, psycopg.connect(dst_url) as dst:
        dst.execute("set session_replication_role = replica")  # rows copied table by table: no FK order
        tables = [r[0] for r in src.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = %s and c.relkind = 'r' order by 1""", (SCHEMA,)).fetchall()]
        dst.execute(sql.SQL("truncate {}").format(sql.SQL(", ").join(_table(t) for t in tables)))
        for table in tables:
            with src.cursor().copy(sql.SQL("copy {} to stdout (format binary)").format(_table(table))) as out, \
                    dst.cursor().copy(sql.SQL("copy {} from stdin (format binary)").format(_table(table))) as into:
                for chunk in out:
                    into.write(chunk)
        dst.commit()


def clone(server_url: str, template_url: str, prefix: str) -> str:
    """A new database copied from ``template_url`` (no one may be connected to it)."""
    from hms_pipeline.db import database_name, with_database

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(database_name(template_url))))
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database of ``url`` (its name read from the URL path: a socket URL's query string
    may hold slashes, e.g. the embedded server's ``?host=/tmp/.../pg``)."""
    from hms_pipeline.db import database_name

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database_name(url))))


@dataclasses.dataclass
class Bases:
    """Per profile: ``pristine`` (canonical DDL + generated legacy data, never backfilled) to load
    fresh copies from, ``loaded`` (the same after one backfill) to start deltas from."""

    server: str
    pristine: str
    loaded: str


def make_bases(server_url: str, monkeypatch, *, profile: str, scale: int, seed: int) -> Bases:
    from backfill_helpers import prepare

    pristine = create_database(server_url, f"pristine_{profile[:4]}")
    loaded = None
    try:
        prepare(pristine, profile=profile, scale=scale, seed=seed)
        loaded = clone(server_url, pristine, f"loaded_{profile[:4]}")
        first = run_delta(monkeypatch, loaded)
        assert not identity_problems(first), f"first backfill of the {profile} base: {identity_problems(first)}"
    except BaseException:
        for url in (loaded, pristine):
            if url:
                drop_database(server_url, url)
        raise
    return Bases(server_url, pristine, loaded)


def drop_bases(bases: Bases) -> None:
    for url in (bases.loaded, bases.pristine):
        drop_database(bases.server, url)


def _rows(url: str, table: str) -> set[str]:
    schema, name = table.split(".")
    with psycopg.connect(url) as conn:
        cols = {r[0] for r in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0", (table,))}
        live = sql.SQL("where t.deleted_at is null") if "deleted_at" in cols else sql.SQL("")
        strip = sql.SQL("").join(sql.SQL(" - {}").format(sql.Literal(c))
                                 for c in ("created_at", "updated_at", "created_by", "updated_by", "deleted_at"))
        return {r[0] for r in conn.execute(sql.SQL("select (to_jsonb(t){strip})::text from {tbl} t {live}").format(
            strip=strip, tbl=sql.Identifier(schema, name), live=live)).fetchall()}


def _provenance(url: str, legacy_table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        staged = conn.execute("select to_regclass(%s) is not null", (f"stg.{legacy_table}",)).fetchone()[0]
        alive = (sql.SQL("and exists (select 1 from {} s where s._key = split_part(m.legacy_key, '#', 1) and not s._deleted)")
                 .format(sql.Identifier("stg", legacy_table)) if staged else sql.SQL(""))
        return {r[0] for r in conn.execute(sql.SQL(
            """select concat_ws(',', legacy_key, canonical_table, canonical_id, disposition) from ops.legacy_id_map m
               where legacy_table = %s {}""").format(alive), (legacy_table,)).fetchall()}


def _quarantine(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            """select concat_ws(',', legacy_table, legacy_key, target_table, reason_code) from ops.quarantine
               where resolved_at is null""").fetchall()}


def describe_difference(delta_url: str, fresh_url: str, a: dict, b: dict, limit: int = 4) -> str:
    """Which fingerprint entries differ, with rows only in the delta / only in the fresh load."""
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        if key.startswith("ops.legacy_id_map:"):
            lt = key.split(":", 1)[1]
            da, db = _provenance(delta_url, lt), _provenance(fresh_url, lt)
        elif key == "ops.quarantine":
            da, db = _quarantine(delta_url), _quarantine(fresh_url)
        else:
            da, db = _rows(delta_url, key), _rows(fresh_url, key)
        only_delta, only_fresh = sorted(da - db), sorted(db - da)
        out.append(f"{key}: delta {a.get(key, (0,))[0]} rows, full load {b.get(key, (0,))[0]} rows; "
                   f"{len(only_delta)} only in the delta, {len(only_fresh)} only in the full load")
        out += [f"    delta only: {r[:600]}" for r in only_delta[:limit]]
        out += [f"    full only:  {r[:600]}" for r in only_fresh[:limit]]
    return "\n".join(out)


def delta_equals_full_load(monkeypatch, bases: Bases, delta_url: str) -> tuple[list[str], str]:
    """Load a copy of ``delta_url``'s legacy rows into a fresh database in one full run; returns
    (problems of that run, description of the differences: empty when equal)."""
    fresh = clone(bases.server, bases.pristine, "fresh")
    try:
        copy_legacy(delta_url, fresh)
        result = run_delta(monkeypatch, fresh)
        problems = [f"fresh full load: {p}" for p in identity_problems(result)]
        # an append-only ledger by its balances: a delta holds corrections a full load never needs
        a, b = fingerprint(delta_url, ledgers_by_balance=True), fingerprint(fresh, ledgers_by_balance=True)
        return problems, ("" if a == b else describe_difference(delta_url, fresh, a, b))
    finally:
        drop_database(bases.server, fresh)


class BackgroundWriter(threading.Thread):
    """A thread writing to the legacy tables on its own connection: up to ``max_writes`` writes in
    small committed transactions (1-3 writes each), for at most ``seconds``, until stopped."""

    def __init__(self, url: str, *, seed: int, max_writes: int = 200, seconds: float = 60.0, pause: float = 0.02):
        super().__init__(daemon=True, name="legacy-writer")
        self.url, self.seed, self.max_writes, self.seconds, self.pause = url, seed, max_writes, seconds, pause
        self.stop = threading.Event()
        self.log: list[tuple[float, str]] = []  # (commit time, write)
        self.transactions = 0
        self.deleted_from: set[str] = set()
        self.error: BaseException | None = None

    def run(self):
        rng = random.Random(self.seed)
        started = time.monotonic()
        try:
            with psycopg.connect(self.url) as conn:
                writer = LegacyWriter(conn, tag=f"cw{self.seed}", use_now=True)
                attempts = 0
                while (not self.stop.is_set() and attempts < self.max_writes
                       and time.monotonic() - started < self.seconds):
                    done = []
                    for _ in range(rng.randint(1, 3)):
                        attempts += 1
                        desc = writer.random_write(rng)
                        if desc:
                            done.append(desc)
                    conn.commit()
                    self.transactions += 1
                    at = time.monotonic()
                    self.log += [(at, d) for d in done]
                    self.deleted_from |= writer.deleted_from
                    time.sleep(self.pause)
        except BaseException as exc:  # reported by the test
            self.error = exc
