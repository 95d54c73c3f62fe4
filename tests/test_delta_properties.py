"""A delta equals a full load and never misses a change (issue "Deltas that equal a full load").

A Hypothesis state machine applies random sequences of legacy writes to a small generated database
that was backfilled once: inserts (copies of a row with a new key and changed content), updates of
the columns the transforms read (names, phones, links, statuses, end times, ...), updates that keep
``updated_at``, backdated inserts, deletions of rows nothing references, links that break (NULL or
dangling), and writes aimed at derived identities (a phone change that splits a merged duplicate
pair, a new duplicate, an encounter that closes or reopens under an appointment whose status is
derived). After each delta:

* the run succeeds and every blocking check passes (``reconciliation``: every staged legacy row is
  loaded, merged or quarantined; no live row points at a soft-deleted parent);
* every legacy row is staged as it is now, nothing gone is staged as live;
* the canonical rows (all columns but the bookkeeping ones) and the provenance equal those of a
  fresh full load of the same legacy rows (``backfill_helpers.fingerprint``).

A fresh full load costs a whole backfill, so the machine is small and the budget fixed: a few
examples of at most ``STEPS`` steps, derandomized (the same sequences on every run), no shrinking
(``HMS_DELTA_SHRINK=1`` turns it on to minimize a failure by hand; ``HMS_DELTA_EXAMPLES=N`` and
``HMS_DELTA_STEPS=N`` explore further with random sequences). The writes of each example
(resolved to legacy keys) are in the failure message.

The deterministic tests after it pin one-write sequences: the known earlier bugs (a phone change
that splits a merged pair, an encounter end that derives DONE, a backdated duplicate that becomes
the survivor), then each kind of difference the random sequences found.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from legacy_writes import (HOWS, WEIGHTED_TABLES, Bases, LegacyWriter, clone, delta_equals_full_load, drop_bases,
                           drop_database, identity_problems, make_bases, run_delta, staging_problems)

SCALE = 24  # patients
PROFILES = {"blueprint": {"seed": 7, "examples": 4}, "live": {"seed": 11, "examples": 3}}
STEPS = 4
TIMINGS: list[tuple[str, float]] = []


@pytest.fixture(scope="module")
def bases(pg_server_url):
    """Per profile (built on first use): the generated legacy database and its first backfill."""
    made: dict[str, Bases] = {}
    with pytest.MonkeyPatch.context() as mp:
        def get(profile: str) -> Bases:
            if profile not in made:
                began = time.monotonic()
                made[profile] = make_bases(pg_server_url, mp, profile=profile, scale=SCALE,
                                           seed=PROFILES[profile]["seed"])
                TIMINGS.append((f"{profile}: generate + first backfill", time.monotonic() - began))
            return made[profile]

        try:
            yield get
        finally:
            for b in made.values():
                drop_bases(b)
            if TIMINGS:
                print("\n" + "\n".join(f"  {what}: {secs:.1f}s" for what, secs in TIMINGS), file=sys.stderr)


class DeltaMachine(RuleBasedStateMachine):
    """Writes to a copy of the backfilled base; ``delta`` runs the backfill and checks it. Subclassed
    per test with ``base`` and ``monkeypatch`` set."""

    base: Bases
    monkeypatch: pytest.MonkeyPatch
    label = ""

    def __init__(self):
        super().__init__()
        self.url = clone(self.base.server, self.base.loaded, "delta")
        self.conn = psycopg.connect(self.url)
        self.writer = LegacyWriter(self.conn)
        self.pending: list[str] = []
        self.history: list[str] = []

    def _did(self, desc: str | None) -> None:
        self.conn.commit()
        if desc:
            self.pending.append(desc)
            self.history.append(desc)

    # -- writes

    @rule(table=st.sampled_from(WEIGHTED_TABLES), col=st.integers(0, 63), how=st.integers(0, HOWS - 1),
          offset=st.integers(0, 10**6), other=st.integers(0, 10**6), keep_stamp=st.booleans())
    def update(self, table, col, how, offset, other, keep_stamp):
        self._did(self.writer.update(table, col, how, offset, other, keep_stamp))

    @rule(table=st.sampled_from(WEIGHTED_TABLES), offset=st.integers(0, 10**6), backdated=st.booleans(),
          col=st.integers(0, 63), how=st.integers(0, HOWS - 1), other=st.integers(0, 10**6))
    def insert(self, table, offset, backdated, col, how, other):
        self._did(self.writer.insert(table, offset, backdated, col, how, other))

    @rule(table=st.sampled_from(WEIGHTED_TABLES), offset=st.integers(0, 10**6))
    def delete(self, table, offset):
        self._did(self.writer.delete(table, offset))

    @rule(table=st.sampled_from(WEIGHTED_TABLES), col=st.integers(0, 63), offset=st.integers(0, 10**6),
          dangling=st.booleans(), keep_stamp=st.booleans())
    def unlink(self, table, col, offset, dangling, keep_stamp):
        self._did(self.writer.unlink(table, col, offset, dangling, keep_stamp))

    @rule(offset=st.integers(0, 10**6), member=st.integers(0, 3), keep_stamp=st.booleans())
    def split_merged_pair(self, offset, member, keep_stamp):
        self._did(self.writer.split_merged_pair(offset, member, keep_stamp))

    @rule(a=st.integers(0, 10**6), b=st.integers(0, 10**6), keep_stamp=st.booleans())
    def make_duplicate(self, a, b, keep_stamp):
        self._did(self.writer.make_duplicate(a, b, keep_stamp))

    @rule(offset=st.integers(0, 10**6), keep_stamp=st.booleans(), reopen=st.booleans())
    def end_encounter(self, offset, keep_stamp, reopen):
        self._did(self.writer.end_encounter(offset, keep_stamp, reopen=reopen))

    # -- the delta and its checks

    @precondition(lambda self: self.pending)
    @rule()
    def delta(self):
        self.check_delta()

    def check_delta(self) -> None:
        accept, self.writer.deleted_from = self.writer.deleted_from, set()
        self.pending = []
        self.history.append("delta")
        began = time.monotonic()
        result = run_delta(self.monkeypatch, self.url, accept_deletions=accept)
        TIMINGS.append((f"{self.label}: delta after [{'; '.join(self.history[:-1])}]", time.monotonic() - began))
        problems = identity_problems(result) + staging_problems(self.url)
        began = time.monotonic()
        fresh_problems, diff = delta_equals_full_load(self.monkeypatch, self.base, self.url)
        TIMINGS.append((f"{self.label}: fresh full load + compare", time.monotonic() - began))
        sequence = "\n".join(f"  {i}. {h}" for i, h in enumerate(self.history, 1))
        assert not problems, f"after the sequence\n{sequence}\nthe delta broke an identity:\n" + "\n".join(problems)
        assert not fresh_problems, f"after the sequence\n{sequence}\n" + "\n".join(fresh_problems)
        assert not diff, f"after the sequence\n{sequence}\nthe delta differs from a fresh full load:\n{diff}"

    def teardown(self):
        try:
            if self.pending:  # the writes since the last delta get theirs
                self.check_delta()
        finally:
            self.conn.close()
            drop_database(self.base.server, self.url)


def _machine(base: Bases, monkeypatch, label: str) -> type[DeltaMachine]:
    return type(f"DeltaMachine_{label}", (DeltaMachine,), {"base": base, "monkeypatch": monkeypatch, "label": label})


@pytest.mark.one_server
@pytest.mark.parametrize("profile", list(PROFILES))
def test_random_deltas_equal_a_full_load(profile, bases, monkeypatch):
    began = time.monotonic()
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("HMS_DELTA_SHRINK") else [])
    # HMS_DELTA_EXAMPLES=N (and HMS_DELTA_STEPS) explore further, with random (not derandomized) sequences
    explore = os.environ.get("HMS_DELTA_EXAMPLES")
    run_state_machine_as_test(_machine(bases(profile), monkeypatch, profile), settings=settings(
        max_examples=int(explore or PROFILES[profile]["examples"]),
        stateful_step_count=int(os.environ.get("HMS_DELTA_STEPS", STEPS)), deadline=None, derandomize=not explore,
        database=None, phases=phases, suppress_health_check=list(HealthCheck), print_blob=False))
    TIMINGS.append((f"{profile}: state machine total", time.monotonic() - began))


# -- pinned one-write sequences: the known earlier bugs, then each kind of difference found


def _run(bases, monkeypatch, label, write, then):
    """One write, one delta (with every check above), then ``then(conn, desc)`` on the delta database."""
    machine = _machine(bases("blueprint"), monkeypatch, label)()
    try:
        desc = write(machine.writer)
        assert desc, f"{label}: the base data offers no target for this write"
        machine._did(desc)
        machine.check_delta()
        with psycopg.connect(machine.url) as conn:
            then(conn, desc)
    finally:
        machine.teardown()


MERGED_PAIRS = """select array_agg(id::text order by created_at, patient_id, id) from patients
                  where name !~* '^patient\\s' and length(etl.norm_mobile(phone)) >= 10
                  group by etl.norm_name(name), etl.norm_mobile(phone), date_of_birth having count(*) > 1
                  order by 1"""

PERSON_OF = """select m.legacy_key, p.person_id from ops.legacy_id_map m
               join core.persons p on p.person_id = m.canonical_id and p.deleted_at is null
               where m.canonical_table = 'core.persons' and m.legacy_table = 'patients' and m.legacy_key = any(%s)"""


def test_a_phone_change_splits_a_merged_pair(bases, monkeypatch):
    """The duplicate registration of a merged pair gets a new phone: two persons from then on, each
    with its own patient."""
    pair = []

    def write(w: LegacyWriter):
        pair.extend(w.conn.execute(MERGED_PAIRS).fetchone()[0])
        return w.split_merged_pair(0, 1, keep_stamp=False)

    def then(conn, desc):
        persons = dict(conn.execute(PERSON_OF, (pair,)).fetchall())
        assert len(persons) == 2 and len(set(persons.values())) == 2, (desc, persons)
        patients = conn.execute(
            """select count(distinct c.patient_id) from core.patients c
               where c.deleted_at is null and c.person_id = any(%s)""", (list(persons.values()),)).fetchone()[0]
        assert patients == 2, (desc, persons)

    _run(bases, monkeypatch, "split pair", write, then)


def test_an_encounter_end_derives_a_done_appointment(bases, monkeypatch):
    """An encounter under a past appointment without status closes: the appointment becomes DONE."""
    target = []

    def write(w: LegacyWriter):
        # an open encounter under a past appointment (before the data's as-of) with no status
        row = w.conn.execute(
            """select e.id, a.id::text from encounter e join appointment a on a.encounter_id = e.id
               where e.end_at is null and a.status_id is null
                 and a.scheduled_at < (select max(greatest(x.created_at, x.updated_at)) from (
                     select created_at, updated_at from appointment union all select created_at, updated_at from encounter) x)
                     - interval '1 day'
               order by e.id limit 1""").fetchone()
        assert row, "no open encounter under a past appointment without status"
        target.append(row[1])
        offset = w.conn.execute(
            """select count(*) from encounter e where e.end_at is null and e.id < %s and exists (
                   select 1 from appointment a where a.encounter_id = e.id and a.status_id is null)""",
            (row[0],)).fetchone()[0]
        return w.end_encounter(offset, keep_stamp=False)

    def then(conn, desc):
        status = conn.execute(
            """select a.status from ops.legacy_id_map m join clinical.appointments a on a.appointment_id = m.canonical_id
               where m.canonical_table = 'clinical.appointments' and m.legacy_table = 'appointment'
                 and m.legacy_key = %s and a.deleted_at is null""", (target[0],)).fetchone()
        assert status == ("DONE",), (desc, target, status)

    _run(bases, monkeypatch, "encounter end", write, then)


def test_a_backdated_duplicate_becomes_the_survivor(bases, monkeypatch):
    """A registration of an existing person, backdated before the survivor, takes over the person:
    every row that pointed at the old person follows it (no live row points at a soft-deleted person,
    which the reconciliation checks)."""
    pair = []

    def write(w: LegacyWriter):
        # the survivor of a merged pair, copied (same name, phone, dob) with a new UHID, stamped long ago
        pair.extend(w.conn.execute(MERGED_PAIRS).fetchone()[0])
        offset = w.conn.execute("select count(*) from patients where id < %s", (pair[0],)).fetchone()[0]
        desc = w.insert("patients", offset, backdated=True)
        pair.append(desc.split()[3])
        return desc

    def then(conn, desc):
        persons = dict(conn.execute(PERSON_OF, (pair,)).fetchall())
        assert set(persons) == set(pair) and len(set(persons.values())) == 1, (desc, persons)
        disposition = dict(conn.execute(
            """select legacy_key, disposition from ops.legacy_id_map
               where canonical_table = 'core.persons' and legacy_table = 'patients' and legacy_key = any(%s)""",
            (pair,)).fetchall())
        assert disposition[pair[-1]] == "LOADED" and disposition[pair[0]] == "MERGED", (desc, disposition)
        stale = conn.execute(
            """select count(*) from core.patients c join core.persons p on p.person_id = c.person_id
               where c.deleted_at is null and p.deleted_at is not null""").fetchone()[0]
        assert stale == 0, (desc, stale)

    _run(bases, monkeypatch, "backdated survivor", write, then)


def test_a_doctor_whose_login_link_breaks_leaves_the_staff(bases, monkeypatch):
    """A doctor found through its login's auth_id (Q25) loses that link (the login's auth_id changes):
    a full load quarantines the doctor (ORPHAN_FK, no users row) and leaves the attending doctor of
    its encounters empty; so must the delta (its old MERGED provenance must not keep it linked)."""
    doctor = []

    def write(w: LegacyWriter):
        row = w.conn.execute(
            """select d.id::text, u.id from doctors d join users u on u.auth_id = d.user_id
               where not exists (select 1 from users x where x.id = d.user_id) order by d.id limit 1""").fetchone()
        assert row, "no doctor linked through users.auth_id"
        doctor.append(row[0])
        w.conn.execute("update users set auth_id = %s, updated_at = %s where id = %s",
                       (w._new_id(w._next()), w._stamp(), row[1]))
        return f"update users.auth_id of {row[1]} (the login of doctor {row[0]})"

    def then(conn, desc):
        mapped = conn.execute(
            """select canonical_table, disposition from ops.legacy_id_map
               where legacy_table = 'doctors' and legacy_key = %s order by 1""", (doctor[0],)).fetchall()
        assert mapped == [], (desc, mapped)

    _run(bases, monkeypatch, "doctor login link", write, then)


def test_a_row_that_stops_loading_loses_its_provenance(bases, monkeypatch):
    """A history entry loses its patient (patient_id NULL): a full load quarantines it (ORPHAN_FK) and
    maps it nowhere; the delta must not keep its old LOADED entry in ops.legacy_id_map."""
    key = []

    def write(w: LegacyWriter):
        row = w.conn.execute("select id::text from medical_history where patient_id is not null order by id limit 1").fetchone()
        assert row, "no medical_history row"
        key.append(row[0])
        w.conn.execute("update medical_history set patient_id = null, updated_at = %s where id = %s",
                       (w._stamp(), row[0]))
        return f"update medical_history.patient_id of {row[0]} to NULL"

    def then(conn, desc):
        mapped = conn.execute("select canonical_table, disposition from ops.legacy_id_map where legacy_table = "
                              "'medical_history' and legacy_key = %s", (key[0],)).fetchall()
        quarantined = conn.execute("select reason_code from ops.quarantine where legacy_table = 'medical_history' "
                                   "and legacy_key = %s and resolved_at is null", (key[0],)).fetchall()
        assert quarantined and not mapped, (desc, mapped, quarantined)

    _run(bases, monkeypatch, "stops loading", write, then)


def test_a_test_no_report_names_any_more_leaves_the_catalog(bases, monkeypatch):
    """The only report naming some analytes loses its results: a full load derives no test for them
    (clinical.lab_tests 'LEGACY-...'), so the delta must not keep them live."""
    report = []

    def write(w: LegacyWriter):
        row = w.conn.execute(
            """select min(report_key) from etl.lab_report_analytes(null) as a
               where not a.is_catalog_test and a.test_code is not null and a.source is distinct from 'lab_result_value'
                 and a.test_code not in (select b.test_code from etl.lab_report_analytes(null) as b
                                         where b.report_key <> a.report_key and b.test_code is not null)
                 and not exists (select 1 from lab_result_value v where v.lab_report_id::text = a.report_key)""").fetchone()
        assert row and row[0], "no analyte named by a single report"
        report.append(row[0])
        w.conn.execute("update lab_reports set results = null, updated_at = %s where id = %s", (w._stamp(), row[0]))
        return f"update lab_reports.results of {row[0]} (the only report naming some analytes) to NULL"

    def then(conn, desc):
        live = conn.execute(
            """select t.code from clinical.lab_tests t where t.deleted_at is null and t.code like 'LEGACY-%%'
               and t.code not in (select test_code from etl.lab_report_analytes(null) where test_code is not null)""").fetchall()
        assert not live, (desc, live)

    _run(bases, monkeypatch, "derived test gone", write, then)


def test_a_changed_legacy_code_leaves_ref_codes(bases, monkeypatch):
    """A legacy ref_code row changes its code: a full load has only the new (code, system) row in
    ref.codes; the delta must not keep the old one."""

    def write(w: LegacyWriter):
        row = w.conn.execute("select id, domain, code from ref_code where domain = 'appt_status' order by code limit 1").fetchone()
        w.conn.execute("update ref_code set code = code || '_renamed' where id = %s", (row[0],))
        return f"update ref_code.code of {row[0]} ({row[1]}/{row[2]})"

    def then(conn, desc):
        stale = conn.execute(
            """select c.system, c.code from ref.codes c where c.system like 'legacy.%%' and not exists (
                   select 1 from stg.ref_code s where not s._deleted and 'legacy.' || s.domain = c.system and s.code = c.code)""").fetchall()
        assert not stale, (desc, stale)

    _run(bases, monkeypatch, "ref code renamed", write, then)


def test_a_touched_encounter_moves_the_data_as_of_past_a_booked_slot(bases, monkeypatch):
    """An appointment without status is BOOKED while its slot is after the data's as-of (the latest
    write of appointment/encounter rows). An encounter written later than the slot (only its
    updated_at moves: nothing clinical.encounters carries) moves the as-of past it: a full load
    gives the slot no status (MISSING_STATUS); so must the delta."""
    slot = []

    def write(w: LegacyWriter):
        row = w.conn.execute(
            """select a.scheduled_at, m.legacy_key from clinical.appointments a
               join ops.legacy_id_map m on m.canonical_id = a.appointment_id and m.canonical_table = 'clinical.appointments'
                                       and m.legacy_table = 'appointment'
               join appointment l on l.id::text = m.legacy_key
               where a.status = 'BOOKED' and a.deleted_at is null and l.status_id is null
               order by a.scheduled_at limit 1""").fetchone()
        assert row, "no appointment BOOKED by derivation"
        slot.append(row[1])
        enc = w.conn.execute("select id from encounter order by id limit 1").fetchone()[0]
        w.conn.execute("update encounter set updated_at = %s where id = %s", (row[0] + dt.timedelta(hours=1), enc))
        return f"touch encounter {enc} (updated_at after the BOOKED slot of appointment {row[1]})"

    def then(conn, desc):
        status = conn.execute(
            """select a.status from ops.legacy_id_map m join clinical.appointments a on a.appointment_id = m.canonical_id
               where m.canonical_table = 'clinical.appointments' and m.legacy_table = 'appointment'
                 and m.legacy_key = %s""", (slot[0],)).fetchone()
        assert status != ("BOOKED",), (desc, status)

    _run(bases, monkeypatch, "as-of moves", write, then)


@pytest.mark.xfail(strict=True, reason="known: pharmacy.items.code is UNIQUE over soft-deleted rows too, so the "
                   "soft-deleted former survivor keeps the code and the copy's new item gets a MIG- code; a full "
                   "load gives the copy the code. A partial unique index (deleted_at is null) alone is not enough "
                   "(tried): the old item is still live while this run writes, so the pre-flight refuses the "
                   "copy; it also needs the stale ids found before the pre-flight, excluded as holders, and "
                   "soft-deleted before the upsert")
def test_a_deleted_medication_leaves_its_code_to_the_copy(bases, monkeypatch):
    """A drug master row that is its item's survivor, with a copy in medicines (same id, same code), is
    deleted: the copy becomes the survivor, so the item gets the copy's id. A full load gives that item the copy's code; the delta must too (not an assigned
    'MIG-' code because the soft-deleted item of the deleted row still holds it)."""

    def write(w: LegacyWriter):
        t = w.cat["medications"]
        free = " and ".join(f"not exists (select 1 from {child} r where r.{ccol} = m.{pcol})"
                            for child, ccol, pcol in t.children) or "true"
        row = w.conn.execute(
            f"""select m.id from medications m join medicines c on c.id = m.id and c.medication_code = m.medication_code
                join ops.legacy_id_map p on p.legacy_table = 'medications' and p.legacy_key = m.id::text
                                        and p.canonical_table = 'pharmacy.items' and p.disposition = 'LOADED'
                where m.medication_code is not null and {free} order by m.id limit 1""").fetchone()
        assert row, "no deletable medication (an item's survivor) with a copy in medicines"
        w.conn.execute("delete from medications where id = %s", row)
        w.deleted_from.add("medications")
        return f"delete medications {row[0]} (its copy in medicines stays)"

    _run(bases, monkeypatch, "medication copy", write, lambda conn, desc: None)  # the full-load comparison is the check


def test_a_deleted_appointment_reclassifies_its_encounter(bases, monkeypatch):
    """An encounter that owns an appointment is an OPD booking (type 'OPD' when type_id is NULL, times
    read as IST wall clock). Its appointment row is deleted: a full load classifies the encounter as
    a plain one (no type, true UTC times); so must the delta."""
    enc = []

    def write(w: LegacyWriter):
        t = w.cat["appointment"]
        free = " and ".join(f"not exists (select 1 from {child} r where r.{ccol} = a.{pcol})"
                            for child, ccol, pcol in t.children) or "true"
        row = w.conn.execute(
            f"""select a.id, a.encounter_id::text from appointment a join encounter e on e.id = a.encounter_id
                where e.type_id is null and {free} order by a.id limit 1""").fetchone()
        assert row, "no deletable appointment of an encounter without type"
        enc.append(row[1])
        w.conn.execute("delete from appointment where id = %s", (row[0],))
        w.deleted_from.add("appointment")
        return f"delete appointment {row[0]} (of encounter {row[1]}, type_id NULL)"

    def then(conn, desc):
        typ = conn.execute(
            """select e.type from ops.legacy_id_map m join clinical.encounters e on e.encounter_id = m.canonical_id
               where m.canonical_table = 'clinical.encounters' and m.legacy_table = 'encounter' and m.legacy_key = %s""",
            (enc[0],)).fetchone()
        assert typ != ("OPD",), (desc, typ)

    _run(bases, monkeypatch, "appointment deleted", write, then)
