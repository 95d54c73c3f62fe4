"""clinical backfill (encounters, appointments, vitals, allergies, symptoms, medical history) on
generated legacy data: every asset materializes and reconciles, the rules hold, the results match
the generator's ground truth, a rerun writes nothing and a delta equals a fresh run."""

from __future__ import annotations

import re

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from backfill_helpers import failed_checks, fingerprint, materializations, prepare, run_backfill
from hms_pipeline.defs import clinical
from hms_pipeline.engine.reconcile import reconcile
from hms_pipeline.paths import sql_file

MINE = ("encounters", "appointments", "vitals", "allergies", "symptoms", "medical_history")
SPECS = [s for s in clinical.SPECS if s.schema == "clinical" and s.table in MINE]
ASSETS = [f"clinical/{t}" for t in MINE]
PK = {"encounters": "encounter_id", "appointments": "appointment_id", "vitals": "vital_id",
      "allergies": "allergy_id", "symptoms": "symptom_id", "medical_history": "history_id"}
# canonical vital kind <- legacy column (patients TEXT vitals, the wide vitals table)
VITAL_KIND = {"pulse": "heart_rate", "spo2": "oxygen_saturation", "random_blood_sugar": "blood_glucose",
              "blood_pressure_systolic": "bp_systolic", "blood_pressure_diastolic": "bp_diastolic"}


def setup(url: str, profile: str = "blueprint"):
    """Canonical DDL and generated tiny legacy data. In the live profile the blueprint-only sources
    (patient_visits, patient_allergies, patient_symptoms) and the `appointments` view are staged as
    empty tables by the snapshot."""
    return prepare(url, profile=profile)


def run(monkeypatch, url: str):
    # the backfill phase reduced to these six and what they need upstream (snapshot, ref, core); the
    # GX suites run in the full location's tests
    result = run_backfill(monkeypatch, url, targets=[s.name for s in SPECS], suites=False)
    messages = [e.event_specific_data.error.message[:800] for e in result.get_step_failure_events()]
    assert result.success, messages
    assert not failed_checks(result), failed_checks(result)
    return result


def rows(conn, query: str, *params) -> list:
    return conn.execute(query, params).fetchall()


def truth(conn, query: str, *params) -> list:
    return rows(conn, query, *params)


def loaded_per_legacy_row(conn, table: str, legacy_table: str) -> dict[str, int]:
    """Live canonical rows per legacy row (legacy key before the first '#')."""
    return dict(rows(conn, sql.SQL(
        """select split_part(m.legacy_key, '#', 1), count(*) from ops.legacy_id_map m
           join clinical.{t} c on c.{pk} = m.canonical_id and c.deleted_at is null
           where m.canonical_table = %s and m.legacy_table = %s and m.disposition = 'LOADED'
           group by 1""").format(t=sql.Identifier(table), pk=sql.Identifier(PK[table])).as_string(conn),
        f"clinical.{table}", legacy_table))


def comparable(url: str) -> dict:
    """The fingerprint, with provenance restricted to entries whose canonical row is live: a list
    item that disappeared from a text keeps its (history) map entry after its row is soft-deleted,
    which a fresh run never had."""
    out = {k: v for k, v in fingerprint(url).items() if not k.startswith("ops.legacy_id_map:")}
    with psycopg.connect(url) as conn:
        for table, pk in PK.items():
            out[f"map:{table}"] = conn.execute(sql.SQL(
                """select count(*), md5(string_agg(concat_ws(',', m.legacy_table, m.legacy_key, m.canonical_id,
                                                          m.disposition), '|' order by m.legacy_table, m.legacy_key))
                   from ops.legacy_id_map m join clinical.{t} c on c.{pk} = m.canonical_id and c.deleted_at is null
                   where m.canonical_table = %s""").format(t=sql.Identifier(table), pk=sql.Identifier(pk)),
                (f"clinical.{table}",)).fetchone()
    return out


# --- the full run on both profiles, against the ground truth -------------------------------------


@pytest.mark.parametrize("profile", ["blueprint", "live"])
def test_clinical_backfill_reconciles_matches_truth_and_reruns_idle(fresh_db, monkeypatch, profile):
    setup(fresh_db, profile)
    mats = materializations(run(monkeypatch, fresh_db))
    assert set(ASSETS) <= set(mats)
    assert mats["clinical/encounters"]["rows_written"] > 0 and mats["clinical/vitals"]["rows_written"] > 0

    with psycopg.connect(fresh_db) as conn:
        for spec in SPECS:  # the blocking check, re-run directly: nothing missing
            recon = reconcile(conn, spec)
            assert recon.ok, recon.problems()

        # vitals rows per legacy vitals row and per patient's TEXT vitals
        for figure, legacy_table in (("vitals_rows_per_vitals", "vitals"),
                                     ("vitals_rows_per_patient_text", "patients")):
            expected = {k: int(v) for k, v in truth(
                conn, "select key, value from hms_truth.figures where name = %s and value::numeric > 0", figure)}
            assert expected and loaded_per_legacy_row(conn, "vitals", legacy_table) == expected, figure

        # quarantine: exactly the truth's value-level defects ('<id>#<kind>'), and its counts
        expected = {(t, k + "#" + VITAL_KIND.get(c, c), e.split(":", 1)[1]) for t, k, c, e in truth(
            conn, """select legacy_table, legacy_key, detail->>'column', expected from hms_truth.defects
                     where kind in ('text_vitals_unparseable', 'text_vitals_out_of_range', 'vitals_out_of_range')
                       and expected like 'QUARANTINE:%%'""")}
        got = set(rows(conn, """select legacy_table, legacy_key, reason_code from ops.quarantine
                                where target_table like 'clinical.%%' and resolved_at is null
                                  and target_table <> all (%s)""",
                       ["clinical.lab_tests", "clinical.lab_orders", "clinical.lab_order_items", "clinical.lab_results"]))
        assert got == expected
        figures = dict(truth(conn, """select key, value::int from hms_truth.figures
                                      where name = 'quarantined_values' and split_part(key, '|', 1) in
                                            ('patients', 'vitals')"""))
        assert {f"{t}|{r}": n for t, r, n in rows(
            conn, """select legacy_table, reason_code, count(*) from ops.quarantine
                     where target_table = 'clinical.vitals' and resolved_at is null group by 1, 2""")} == figures
        legacy = ["encounter", "appointment", "appointments", "patient_visits", "vitals", "patient_allergies",
                  "patient_symptoms", "medical_history"]
        assert truth(conn, """select key from hms_truth.figures where name = 'quarantined_rows'
                              and split_part(key, '|', 1) = any (%s)""", legacy) == []

        # copies in `appointments` merge into their base row (MERGE_INTO), nothing else is written
        assert truth(conn, """select d.legacy_key from hms_truth.defects d
                              left join ops.legacy_id_map m on m.legacy_table = 'appointments'
                               and m.legacy_key = d.legacy_key and m.canonical_table = 'clinical.appointments'
                               and m.disposition = 'MERGED'
                               and m.canonical_id = etl.canonical_id('clinical.appointments', 'appointment',
                                                                     split_part(d.expected, ':', 2))
                              where d.kind = 'alias_copy' and d.legacy_table = 'appointments'
                                and m.legacy_key is null""") == []

        # loaded defects: placeholder encounters, dead type_id (type NULL), dangling visit
        # appointment_id; naive timestamps loaded with the truth's corrected values
        assert truth(conn, """select d.kind, d.legacy_key from hms_truth.defects d
                              left join ops.legacy_id_map m on m.legacy_table = d.legacy_table
                               and m.legacy_key = d.legacy_key and m.canonical_table = 'clinical.encounters'
                              left join clinical.encounters e on e.encounter_id = m.canonical_id
                               and e.deleted_at is null
                              where d.kind in ('placeholder_encounter', 'dead_ref_code', 'orphan_fk')
                                and d.legacy_table in ('encounter', 'patient_visits')
                                and (e.encounter_id is null
                                     or (d.kind = 'dead_ref_code' and e.type is not null))""") == []
        assert truth(conn, """select d.legacy_key from hms_truth.defects d
                              join ops.legacy_id_map m on m.legacy_table = 'appointment'
                               and m.legacy_key = d.legacy_key and m.canonical_table = 'clinical.appointments'
                              join clinical.appointments a on a.appointment_id = m.canonical_id
                              where d.kind = 'naive_timestamp' and d.legacy_table = 'appointment'
                                and a.scheduled_at is distinct from (d.detail->>'corrected')::timestamptz""") == []
        assert truth(conn, """select d.legacy_key from hms_truth.defects d
                              join ops.legacy_id_map m on m.legacy_table = 'encounter'
                               and m.legacy_key = d.legacy_key and m.canonical_table = 'clinical.encounters'
                              join clinical.encounters e on e.encounter_id = m.canonical_id
                              where d.kind = 'naive_timestamp' and d.legacy_table = 'encounter'
                                and (e.start_at is distinct from (d.detail->>'corrected')::timestamptz
                                     or e.end_at is distinct from (d.detail->>'end_at_corrected')::timestamptz)
                              """) == []
        assert truth(conn, """select d.legacy_key from hms_truth.defects d
                              join ops.legacy_id_map m on m.legacy_table = 'bed_allocations'
                               and m.legacy_key = d.legacy_key and m.canonical_table = 'clinical.encounters'
                               and m.disposition = 'LOADED'
                              join clinical.encounters e on e.encounter_id = m.canonical_id
                              where d.kind = 'naive_timestamp' and d.legacy_table = 'bed_allocations'
                                and e.start_at is distinct from (d.detail->>'corrected')::timestamptz""") == []
        # warnings as the truth counts them (the engine counts a row's first warning)
        warned = mats["clinical/encounters"]["warnings"]
        assert warned.get("PLACEHOLDER_ROW", 0) == truth(
            conn, "select count(*) from hms_truth.defects where kind = 'placeholder_encounter'")[0][0]
        if profile == "blueprint":
            assert mats["clinical/medical_history"]["warnings"].get("FREE_TEXT_REF", 0) == truth(
                conn, """select count(*) from hms_truth.defects
                         where kind = 'free_text_doctor' and legacy_table = 'medical_history'""")[0][0]

    before = fingerprint(fresh_db)
    mats2 = materializations(run(monkeypatch, fresh_db))
    assert {a: mats2[a]["rows_written"] for a in ASSETS} == {a: 0 for a in ASSETS}
    assert all(mats2[a]["rows_soft_deleted"] == 0 for a in ASSETS)
    assert fingerprint(fresh_db) == before


# --- the rules, on the blueprint profile ----------------------------------------------------------


def test_clinical_rules(fresh_db, monkeypatch):
    setup(fresh_db)
    run(monkeypatch, fresh_db)
    with psycopg.connect(fresh_db) as conn:
        # appointment-path encounters hold IST wall clock (Q28), other encounters true UTC; an
        # appointment has its encounter's time and patient
        assert rows(conn, """select e._key from stg.encounter e
                             join ops.legacy_id_map m on m.legacy_table = 'encounter' and m.legacy_key = e._key
                              and m.canonical_table = 'clinical.encounters' and m.disposition = 'LOADED'
                             join clinical.encounters c on c.encounter_id = m.canonical_id
                             left join stg.appointment a on a.encounter_id = e.id
                             where c.start_at <> case when a.id is null then e.start_at
                                                      else etl.local_wall_clock(e.start_at, 'Asia/Kolkata') end
                          """) == []
        assert rows(conn, """select count(*) from clinical.appointments ap
                             join ops.legacy_id_map m on m.canonical_id = ap.appointment_id
                              and m.legacy_table = 'appointment'
                             join stg.appointment a on a._key = m.legacy_key
                             join ops.legacy_id_map em on em.legacy_table = 'encounter'
                              and em.legacy_key = a.encounter_id::text and em.canonical_table = 'clinical.encounters'
                             join clinical.encounters e on e.encounter_id = em.canonical_id
                             where ap.scheduled_at <> e.start_at or ap.patient_id <> e.patient_id""") == [(0,)]

        # a NULL status_id: BOOKED (a slot after the data's as-of), else DONE when its encounter ended,
        # else NULL
        assert rows(conn, """select count(*) from stg.appointment a
                             join ops.legacy_id_map m on m.legacy_table = 'appointment' and m.legacy_key = a._key
                              and m.canonical_table = 'clinical.appointments'
                             join clinical.appointments c on c.appointment_id = m.canonical_id
                             join stg.encounter e on e.id = a.encounter_id
                             where a.status_id is null and c.status is distinct from 'BOOKED'
                               and c.status is distinct from case when e.end_at is not null then 'DONE' end""") \
            == [(0,)]

        # one IPD encounter per admission (the rule shared with inpatient.admissions), opened by the
        # first allocation; transfers (see the delta test) and the legacy encounter an allocation
        # names are MERGED into it
        admissions = rows(conn, """select count(distinct admission_key) from etl.bed_allocation_admissions()
                                   where not is_deleted""")
        assert rows(conn, "select count(*) from clinical.encounters where type = 'IPD' and deleted_at is null") \
            == admissions
        assert rows(conn, """select count(*) from etl.bed_allocation_admissions() a
                             join ops.legacy_id_map m on m.legacy_table = 'bed_allocations'
                              and m.legacy_key = a.allocation_key and m.canonical_table = 'clinical.encounters'
                             where m.canonical_id <> etl.canonical_id('clinical.encounters', 'bed_allocations',
                                                                      a.opening_key)
                                or m.disposition <> case when a.seq = 1 then 'LOADED' else 'MERGED' end""") \
            == [(0,)]
        assert rows(conn, """select count(*) from stg.bed_allocations b
                             join ops.legacy_id_map m on m.legacy_table = 'encounter'
                              and m.legacy_key = b.encounter_id::text and m.canonical_table = 'clinical.encounters'
                             join clinical.encounters e on e.encounter_id = m.canonical_id
                             where m.disposition <> 'MERGED' or e.type <> 'IPD'""") == [(0,)]

        # patients-derived vitals sit on the encounter attached or inferred for the patient; an
        # inferred encounter is a point visit of that patient, typed by the registration's
        # admission_type (outpatient/referred OPD, emergency ER, else none)
        assert rows(conn, """select count(*) from ops.legacy_id_map m
                             join clinical.vitals v on v.vital_id = m.canonical_id
                             left join ops.legacy_id_map em on em.legacy_table = 'patients'
                              and em.legacy_key = split_part(m.legacy_key, '#', 1) || '#inferred'
                              and em.canonical_table = 'clinical.encounters'
                             where m.legacy_table = 'patients' and m.canonical_table = 'clinical.vitals'
                               and v.encounter_id is distinct from em.canonical_id""") == [(0,)]
        assert rows(conn, """select count(*) from ops.legacy_id_map m
                             join clinical.encounters e on e.encounter_id = m.canonical_id
                             left join stg.patients p on m.legacy_table = 'patients'
                              and p._key = split_part(m.legacy_key, '#', 1)
                             where m.legacy_key like '%%#inferred' and m.disposition = 'LOADED'
                               and (e.start_at <> e.end_at or e.patient_id is null
                                    or e.type is distinct from case p.admission_type when 'outpatient' then 'OPD'
                                       when 'referred' then 'OPD' when 'emergency' then 'ER' end)""") == [(0,)]
        # a NULL type_id is OPD on the appointment path, NULL elsewhere (placeholders)
        assert rows(conn, """select count(*) from stg.encounter e
                             join ops.legacy_id_map m on m.legacy_table = 'encounter' and m.legacy_key = e._key
                              and m.canonical_table = 'clinical.encounters' and m.disposition = 'LOADED'
                             join clinical.encounters c on c.encounter_id = m.canonical_id
                             where e.type_id is null and c.type is distinct from
                                   case when exists (select 1 from stg.appointment a where a.encounter_id = e.id)
                                        then 'OPD' end""") == [(0,)]

        # explicit units; temperature in the recorded unit (°F when the vitals table value > 45)
        assert rows(conn, """select count(*) from clinical.vitals where kind = 'temperature'
                             and not ((unit = '°F' and value between 85 and 110)
                                      or (unit = '°C' and value between 30 and 43))""") == [(0,)]
        units = dict(rows(conn, "select kind, string_agg(distinct unit, ',') from clinical.vitals group by 1"))
        assert units["bp_systolic"] == "mmHg" and units["heart_rate"] == "bpm"
        assert units["oxygen_saturation"] == "%" and units["weight"] == "kg"

        # free text: one row per item, none-words skipped
        for column, table in (("allergies", "allergies"), ("initial_symptoms", "symptoms"),
                              ("chronic_conditions", "medical_history")):
            # distinct items per text: an item repeated within one text is one row
            items = rows(conn, sql.SQL("""select count(distinct (s._key, lower(btrim(i, E' \\t\\r\\n.'))))
                                          from stg.patients s, regexp_split_to_table(s.{}, '[,;]') i
                                          where not s._deleted and not etl.is_none_item(i)""")
                         .format(sql.Identifier(column)).as_string(conn))
            assert items[0][0] > 0
            assert rows(conn, """select count(*) from ops.legacy_id_map where legacy_table = 'patients'
                                 and canonical_table = %s and legacy_key like %s""",
                        f"clinical.{table}", f"%#{column}#%") == items, column
        # no free text in quarantine details
        assert rows(conn, """select count(*) from ops.quarantine q where q.target_table like 'clinical.%%'
                             and q.detail::text ~* '(penicillin|fever|diabet|normal|not taken|[0-9]/[0-9])'""") \
            == [(0,)]


def test_vital_ranges_are_the_truths():
    from hms_pipeline.legacy.generator import VITAL_RANGES

    text = sql_file("clinical", "vitals.sql").read_text(encoding="utf-8")
    ranges = {(k, u): (float(lo), float(hi))
              for k, u, lo, hi in re.findall(r"\('(\w+)', '([^']+)', ([\d.]+), ([\d.]+)\)", text)}
    assert len(ranges) == 12
    alias = {"heart_rate": "pulse", "oxygen_saturation": "spo2", "blood_glucose": "random_blood_sugar"}
    for (kind, unit), bounds in ranges.items():
        key = {"°F": "temperature_f", "°C": "temperature_c"}.get(unit, kind)
        assert VITAL_RANGES[key] == bounds, kind
        assert VITAL_RANGES.get(alias.get(kind, kind), bounds) == bounds, kind


# --- deltas --------------------------------------------------------------------------------------

TRANSFER_ID = "00000000-0000-0000-0000-00000000c11c"


def _apply_changes(url: str) -> dict:
    """A changed TEXT vital and allergy text, a deleted vitals row, a transfer added to an admission
    (its IPD encounter's end_at moves to the new row's discharge)."""
    with psycopg.connect(url) as conn:
        patient = conn.execute("""select id from patients where nullif(btrim(temperature), '') is not null
                                  order by patient_id limit 1""").fetchone()[0]
        conn.execute("""update patients set temperature = '39.5', temp_unit = 'C',
                        allergies = 'Penicillin; nil; Sulfa drugs', updated_at = timestamptz '2026-04-02 10:00+00'
                        where id = %s""", (patient,))
        vitals = conn.execute("select id from vitals order by id limit 1").fetchone()[0]
        conn.execute("delete from vitals where id = %s", (vitals,))
        opening = conn.execute(  # an admission of one allocation: a transfer now follows it
            """select b.id, b.admission_date from bed_allocations b
               where b.ip_number is not null
                 and not exists (select 1 from bed_allocations o where o.encounter_id = b.encounter_id and o.id <> b.id)
               order by b.id limit 1""").fetchone()
        assert opening, "no single-allocation admission"
        conn.execute("""update bed_allocations set status = 'transferred',
                        discharge_date = admission_date + interval '2 days',
                        updated_at = timestamptz '2026-04-02 10:00+00' where id = %s""", (opening[0],))
        conn.execute(
            """insert into bed_allocations (id, bed_id, patient_id, encounter_id, admission_date, discharge_date,
                                            admission_type, status, created_at, updated_at)
               select %s, bed_id, patient_id, encounter_id, admission_date + interval '2 days',
                      admission_date + interval '5 days', 'transfer', 'discharged',
                      timestamptz '2026-04-02 10:00+00', timestamptz '2026-04-02 10:00+00'
               from bed_allocations where id = %s""", (TRANSFER_ID, opening[0]))
    return {"patient": str(patient), "opening": str(opening[0]), "admitted": opening[1]}


def test_delta_touches_only_changed_rows_and_matches_a_fresh_full_run(fresh_db, make_db, monkeypatch):
    setup(fresh_db)
    run(monkeypatch, fresh_db)
    changes = _apply_changes(fresh_db)
    mats = materializations(run(monkeypatch, fresh_db))
    assert mats["clinical/appointments"]["rows_written"] == 0 and mats["clinical/medical_history"]["rows_written"] == 0
    assert mats["clinical/vitals"]["rows_written"] == 1 and mats["clinical/vitals"]["rows_soft_deleted"] > 0
    # the IPD encounter's end_at moved (and records of that patient it no longer covers get an
    # inferred encounter of their own: checked by the comparison with a fresh run below)
    assert mats["clinical/encounters"]["rows_written"] >= 1
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("""select value, unit from clinical.vitals
                               where vital_id = etl.canonical_id('clinical.vitals', 'patients', %s || '#temperature')""",
                            (changes["patient"],)).fetchone() == (39.5, "°C")
        assert conn.execute("""select count(*) from ops.legacy_id_map m join clinical.allergies a
                               on a.allergy_id = m.canonical_id and a.deleted_at is null
                               where m.legacy_table = 'patients' and m.legacy_key like %s""",
                            (changes["patient"] + "#allergies#%",)).fetchone() == (2,)
        ipd = conn.execute("""select start_at, end_at from clinical.encounters
                              where encounter_id = etl.canonical_id('clinical.encounters', 'bed_allocations', %s)""",
                           (changes["opening"],)).fetchone()
        assert ipd == conn.execute("""select etl.local_wall_clock(%(t)s, 'Asia/Kolkata'),
                                             etl.local_wall_clock(%(t)s + interval '5 days', 'Asia/Kolkata')""",
                                   {"t": changes["admitted"]}).fetchone()
        assert conn.execute("""select disposition from ops.legacy_id_map where legacy_table = 'bed_allocations'
                               and legacy_key = %s and canonical_table = 'clinical.encounters'""",
                            (TRANSFER_ID,)).fetchone() == ("MERGED",)

    fresh = make_db("fresh")
    setup(fresh)
    _apply_changes(fresh)
    run(monkeypatch, fresh)
    assert comparable(fresh_db) == comparable(fresh)
