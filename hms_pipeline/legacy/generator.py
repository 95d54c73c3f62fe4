"""Synthetic dirty legacy data, generated inside Postgres, with its ground truth.

``generate()`` (re)creates the legacy schema (``create_legacy_schema``), fills it table by table
with one set-based ``INSERT ... SELECT ... FROM generate_series(...)`` per table (chunked by
``CHUNK_ROWS`` driver rows at large scales) from the files in ``sql/legacy/generate/``, then writes
the ground truth into the schema ``hms_truth`` (never the legacy schema) by SQL over the rows it
wrote (``sql/legacy/generate/truth/``).

Scales (:func:`plan`): ``tiny`` (60 patients, every defect kind present), ``demo`` (the real
hospital at the audit: the contract's rows-live counts), ``large`` (1,000,000 patients, about 21
million rows) or a number of patients (steady-state per-patient ratios of a running hospital).
Profiles: ``blueprint`` fills every table the blueprint maps (ghosts, lab, dispensing, the alias
names as copies, medicines as a second drug table, payment_history as the ledger); ``live`` fills
only the tables the live database has rows in (views are never written). ``hostile`` (blueprint
shape) and ``hostile-live`` (live shape) generate that shape, then drop every PK/UNIQUE/FK/CHECK/NOT
NULL, drift a few columns to TEXT and inject the content the real system's history produces
(duplicates by case/spaces/Unicode form, repeated and NULL ids, NULLs and empty strings anywhere,
1 MiB strings, Tamil/Devanagari/accented/one-word/honorific names, numbers with commas/units/ranges
in TEXT, extreme and impossible dates, JSON of unexpected shapes, dangling/ambiguous/soft-deleted
references, transfer loops); see the "hostile profiles" section and :data:`HOSTILE_KINDS`.

Determinism: every value is a function of (seed, table or column tag, row number) through
``hashtextextended``/``md5`` helpers (``00_functions.sql``, created in ``pg_temp``); ids are
``md5(seed:table:n)::uuid``; dates are laid out against ``as_of``; sessions run with
``TimeZone=UTC``. No ``now()``, ``random()`` or column defaults are used for data, so the same
(seed, scale, profile, as_of, rates) gives identical rows on any server, at any wall-clock time and
whatever the chunk size. Defects hit a row with probability ``rates[kind]``; one row per kind and
table is pinned so that even ``tiny`` shows every kind (a rate of 0 disables the kind).

Speed: above ``FAST_FK_PATIENTS`` patients (and for a superuser) the per-row FK triggers are
switched off (``session_replication_role = replica``) and independent tables are generated on two
connections at once; references are valid by construction, which the tests check.

Ground truth (schema ``hms_truth``):

* ``defects(kind, legacy_table, legacy_key, expected, reason, detail)``: one row per seeded defect.
  ``legacy_key`` is the row's ``id`` (or ``'*'`` for a table-level fact); ``expected`` is the outcome
  a correct migration reaches, one of :data:`EXPECTED_OUTCOMES` (``MERGE_INTO:<legacy id>``,
  ``QUARANTINE:<reason>``, ``LOAD_WITH_WARN``, ``LOAD_FK_NULL``, ``EXCLUDE``); ``reason`` is one of
  :data:`REASON_CODES`; ``detail`` holds the column, the raw value and the corrected value.
* ``figures(name, key, value)``: conservation figures (see :data:`FIGURES`).
* ``run(key, value)``: the parameters of the generation (seed, scale, profile, as_of, rates).

:func:`ground_truth_json` returns the same as a dict.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from hms_pipeline.legacy import gen_words as W
from hms_pipeline.legacy.schema import check_schema_name, create_legacy_schema, legacy_tables
from hms_pipeline.paths import LEGACY_SQL_DIR

GEN_SQL_DIR = LEGACY_SQL_DIR / "generate"
TRUTH_SCHEMA = "hms_truth"
DEFAULT_AS_OF = dt.date(2026, 3, 31)

# Dates of the real system's cut-overs (absolute, from the contract): batches received before
# PACKS_UNTIL count packs, later ones units (defect 5); ledger rows before LEDGER_TOTAL_FROM hold
# total_amount 0 (defect 7).
PACKS_UNTIL = dt.date(2026, 2, 27)
LEDGER_TOTAL_FROM = dt.date(2026, 2, 17)

# Reason codes the migration reuses for quarantine and warnings (one line each).
REASON_CODES: dict[str, str] = {
    "ORPHAN_FK": "a reference (in a column without an FK) matches no row",
    "UNPARSEABLE_VALUE": "a text value cannot be parsed to the target type",
    "OUT_OF_RANGE": "a number outside the plausible range for its kind (see VITAL_RANGES)",
    "UNKNOWN_STATUS": "a status/type value outside the documented vocabulary",
    "DUPLICATE": "the row repeats another legacy row (second drug master, copy, duplicate person)",
    "ZERO_QTY": "a stock movement with quantity 0",
    "UNKNOWN_BATCH": "a stock movement whose batch_number matches no batch of its medication",
    "FUTURE_DATE": "a date after the extraction date (as_of)",
    "NEGATIVE_AMOUNT": "a negative payment (refund) where the canonical amount must be > 0",
    "NOT_A_PAYMENT": "a 'credit' (on account) row recorded as a payment",
    "OVERPAYMENT": "payments exceed the bill's amount",
    "PAYMENT_MISMATCH": "billing.amount_paid differs from the sum of its payment rows",
    "ITEMS_TOTAL_MISMATCH": "a bill's lines do not sum to its header subtotal",
    "ORPHAN_HEADER": "a discharge header (patient_admissions/billing_summary) with no lines",
    "MISSING_UNIT": "a measurement without its unit",
    "WRONG_SIGN": "a ledger quantity whose sign contradicts its transaction_type",
    "PACKS_NOT_UNITS": "a quantity counted in packs; multiply by the pack size",
    "RECOMPUTED_TOTAL": "a stored total that must be recomputed from quantity x price",
    "FABRICATED_VALUE": "a value the legacy code invented ('Patient <UHID>', '<UHID>@annam.com')",
    "FREE_TEXT_REF": "a free-text name standing in for a foreign key",
    "AMBIGUOUS_REF": "a reference that needs a fallback to resolve (auth_id vs id, medicine_id vs medication_id)",
    "NAIVE_TIMESTAMP": "an IST wall-clock time stored as if UTC; subtract 05:30",
    "PLACEHOLDER_ROW": "a placeholder row (synthetic encounter) with most fields empty",
    "VOCAB_VARIANT": "a spelling/case variant of a master value (manufacturer, dosage form)",
    "INCONSISTENT_COUNTER": "denormalised counters that disagree with the source of truth",
    "ENCODING_CONFLICT": "the same quantity encoded in several columns that disagree",
    "FORMAT_VARIANT": "an identifier in a second format (bill numbers, IP numbers, drug codes)",
    "EXCLUDED_SOURCE": "a table that must not be migrated (backup, view copy)",
    "EMBEDDED_VALUE": "a value embedded in free text (the strength in a drug name)",
    "SEED_MISMATCH": "reference rows differ from their DDL seed; take the live rows",
    # hostile profile (HOSTILE_KINDS)
    "DUPLICATE_KEY": "a row whose legacy id (or other key) repeats another row's",
    "MISSING_KEY": "a row whose legacy id or patient key is NULL",
    "MISSING_VALUE": "a value that is NULL or an empty/blank string (NOT NULL columns included)",
    "OVERSIZED_VALUE": "a value far larger than any real one (1 MiB of text)",
    "VALID_UNUSUAL": "a valid value of an unusual shape that must be carried as it is (non-Latin script, one-word name)",
    "PLACEHOLDER_VALUE": "a value that stands in for a missing one (a name that is only an honorific)",
    "UNEXPECTED_SHAPE": "a JSON value of a shape the reader does not expect, or not JSON at all",
    "DELETED_PARENT": "a reference to a soft-deleted row",
    "REFERENCE_LOOP": "a chain of references that returns to where it started",
    "TYPE_DRIFT": "a legacy column whose type differs from the contract (TEXT where it says a number, date or JSON)",
    "NO_CONSTRAINTS": "a legacy table without its PK, UNIQUE, FK, CHECK and NOT NULL constraints",
}

# The outcomes a correct migration must reach for a defect row.
EXPECTED_OUTCOMES: dict[str, str] = {
    "MERGE_INTO:<id>": "merge into the legacy row with that id (which is loaded)",
    "QUARANTINE:<REASON>": "do not load; put the row (or the single value, when detail names a column) in quarantine",
    "LOAD_WITH_WARN": "load, correcting the value as detail says, and record a warning",
    "LOAD_FK_NULL": "load with the dangling reference set to NULL",
    "EXCLUDE": "do not migrate (copy of rows that are migrated from their source)",
    "ACCOUNT": "hostile profile: any outcome (load, merge, quarantine) as long as the row is accounted for and the run "
               "does not crash",
}

# kind -> (contract defect numbers, what it is). Tiny scale writes >= 1 row of each kind.
DEFECT_KINDS: dict[str, tuple[tuple[int, ...], str]] = {
    "strength_in_name": ((1,), "drug strength only in the name (strength NULL)"),
    "duplicate_drug": ((2, 18), "same drug twice: second MED- scheme or medicines row varying case/spacing/strength format/code"),
    "manufacturer_variant": ((3,), "manufacturer misspelt or differently cased"),
    "dosage_form_variant": ((3,), "dosage_form lower case raw value or NULL"),
    "stock_counter_mismatch": ((4,), "medications stock counters disagree with each other or the batches"),
    "packs_not_units": ((5,), "batch quantities counted in packs (received before 2026-02-27)"),
    "ledger_wrong_sign": ((6,), "ledger quantity sign contradicts transaction_type"),
    "ledger_total_zero": ((7,), "stock_transactions.total_amount 0 on old rows"),
    "batch_fk_split": ((8,), "batch sets only medicine_id or only medication_id"),
    "batch_number_reused": ((8,), "same batch_number under different medications"),
    "external_item": ((9,), "billing line for an external item: batch_number 'EXTERNAL', batch_id NULL"),
    "text_money": ((10,), "patients money TEXT that does not parse"),
    "bill_number_variant": ((11,), "bill_no NULL on pharmacy bills or a random suffix"),
    "discount_encoding": ((12,), "discount in discount vs discount_amount vs percent"),
    "walk_in_bill": ((13,), "bill without patient, buyer snapshot only"),
    "self_bill": ((13,), "staff/doctor self bill with doctor_id = staff.id"),
    "dead_ref_code": ((14,), "encounter.type_id placeholder uuid matching no ref_code"),
    "hardcoded_ref_code": ((15,), "medicine line with the hard-coded ref_code id"),
    "negative_payment": ((16,), "refund as a negative payment"),
    "payment_mismatch": ((16,), "amount_paid differs from the payment rows (swallowed insert)"),
    "credit_payment": ((16, 17), "'credit' (on account) as a payment row"),
    "overloaded_method": ((17,), "bill header payment_method split/credit/gpay/other"),
    "ledger_copy": ((18, 21), "payment_ledger row repeating a billing_payments row"),
    "alias_copy": ((18,), "row of an alias table (appointments, billing_items) repeating its base row"),
    "backup_copy": ((18,), "medications_backup row"),
    "text_vitals_unparseable": ((19,), "patients TEXT vital that does not parse"),
    "text_vitals_out_of_range": ((19,), "patients TEXT vital out of range"),
    "fabricated_email": ((20,), "'<UHID>@annam.com' email"),
    "fabricated_name": ((20,), "'Patient <UHID>' name"),
    "free_text_doctor": ((21,), "doctor name spelling variant in free text"),
    "doctor_user_auth_id": ((22,), "doctors.user_id holds users.auth_id"),
    "scattered_person": ((23,), "staff row of a person who is also a users/doctors row"),
    "patient_login": ((26,), "users row of a patient (role 'patient')"),
    "placeholder_encounter": ((24,), "encounter with only patient_id and start_at"),
    "naive_timestamp": ((25,), "IST wall clock stored as UTC"),
    "orphan_fk": ((26,), "reference in a column without FK that matches nothing"),
    "ip_number_format": ((27,), "ip_number in the short IP{YY}{NN} format"),
    "admission_type_unknown": ((27,), "bed_allocations.admission_type outside both documented CHECKs"),
    "orphan_header": ((28,), "patient_admissions/billing_summary header with no lines"),
    "fee_seed_mismatch": ((29,), "fee tables differ from their DDL seed (6/14 not 10/16)"),
    "duplicate_patient": ((), "same person as two patient rows"),
    "vitals_out_of_range": ((), "vitals table value out of range"),
    "lab_unparseable_value": ((), "lab result value that does not parse as a number"),
    "lab_missing_unit": ((), "lab result without unit"),
    "zero_qty": ((), "stock movement with quantity 0"),
    "unknown_batch": ((), "stock movement naming no existing batch"),
    "items_total_mismatch": ((), "bill lines do not sum to the header (stress case beyond the contract)"),
    "overpayment": ((), "payments beyond the bill"),
    "unknown_status": ((), "status outside the vocabulary in a free-text status column"),
    "future_date": ((), "date after as_of"),
}

# Kinds that only the blueprint profile can show (their tables are absent, views or empty live).
BLUEPRINT_ONLY_KINDS = ("alias_copy", "orphan_header", "lab_unparseable_value", "lab_missing_unit")

# Default rates per defect kind (probability per eligible row; 0 disables the kind). Kinds whose
# rate is 1.0 are systematic in the real system (every eligible row has them).
DEFAULT_RATES: dict[str, float] = {
    "strength_in_name": 1.0, "duplicate_drug": 0.25, "manufacturer_variant": 0.08,
    "dosage_form_variant": 0.1, "stock_counter_mismatch": 0.3, "packs_not_units": 1.0,
    "ledger_wrong_sign": 0.5, "ledger_total_zero": 1.0, "batch_fk_split": 0.3,
    "batch_number_reused": 0.02, "external_item": 0.03, "text_money": 0.03,
    "bill_number_variant": 0.03, "discount_encoding": 0.15, "walk_in_bill": 0.25, "self_bill": 0.02,
    "dead_ref_code": 0.05, "hardcoded_ref_code": 1.0, "negative_payment": 0.01, "payment_mismatch": 0.03,
    "credit_payment": 0.03, "overloaded_method": 0.05, "ledger_copy": 1.0, "alias_copy": 1.0,
    "backup_copy": 1.0, "text_vitals_unparseable": 0.04, "text_vitals_out_of_range": 0.03,
    "fabricated_email": 0.6, "fabricated_name": 0.02, "free_text_doctor": 0.3, "doctor_user_auth_id": 0.4,
    "scattered_person": 1.0, "patient_login": 1.0, "placeholder_encounter": 1.0, "naive_timestamp": 1.0,
    "orphan_fk": 0.03, "ip_number_format": 0.3, "admission_type_unknown": 0.2, "orphan_header": 1.0,
    "fee_seed_mismatch": 1.0, "duplicate_patient": 0.02, "vitals_out_of_range": 0.05,
    "lab_unparseable_value": 0.04, "lab_missing_unit": 0.05, "zero_qty": 0.03, "unknown_batch": 0.04,
    "items_total_mismatch": 0.02, "overpayment": 0.02, "unknown_status": 0.02, "future_date": 0.005,
}

# Plausible ranges (inclusive) the truth uses to call a vital OUT_OF_RANGE; the migration should
# use the same table. Temperature depends on the unit (patients.temp_unit; the vitals table is F).
VITAL_RANGES: dict[str, tuple[float, float]] = {
    "height": (30, 250), "weight": (0.5, 300), "bmi": (8, 80), "temperature_f": (85, 110),
    "temperature_c": (30, 43), "bp_systolic": (50, 260), "bp_diastolic": (20, 160), "pulse": (20, 250),
    "spo2": (50, 100), "respiratory_rate": (4, 60), "random_blood_sugar": (20, 800),
    "heart_rate": (20, 250), "oxygen_saturation": (50, 100), "pain_scale": (0, 10), "blood_glucose": (20, 800),
}
# The TEXT vitals on patients, in the order the truth unpivots them.
PATIENT_TEXT_VITALS = ("height", "weight", "bmi", "temperature", "bp_systolic", "bp_diastolic", "pulse", "spo2",
                       "respiratory_rate", "random_blood_sugar")
TABLE_VITALS = ("blood_pressure_systolic", "blood_pressure_diastolic", "heart_rate", "temperature",
                "respiratory_rate", "oxygen_saturation", "weight", "height", "pain_scale", "blood_glucose")

# figures(name, key, value): what each name means
FIGURES: dict[str, str] = {
    "distinct_medicines": "key '*': distinct drugs after merging medications + medicines duplicates",
    "analytes_per_lab_report": "key lab_reports.id: analytes (results JSON entries, else lab_result_value rows)",
    "vitals_rows_per_vitals": "key vitals.id: canonical vitals rows from the legacy vitals row (valid values)",
    "vitals_rows_per_patient_text": "key patients.id: canonical vitals rows from the patient's TEXT vitals",
    "stock_on_hand_units": "key '<medication_id>|<batch_number>': batch current_quantity in units",
    "money_billed": "key patients.id ('*no_patient' for walk-in/self bills): sum of bill amounts "
                    "(subtotal - coalesce(discount_amount, discount) + tax) of the bills not quarantined",
    "money_paid": "key patients.id ('*no_patient' for walk-in/self bills): sum of the loadable payments "
                  "(amount > 0, not 'credit', of a bill that exists and is not quarantined)",
    "quarantined_rows": "key '<legacy_table>|<reason>': rows expected in quarantine",
    "quarantined_values": "key '<legacy_table>|<reason>': single values (vitals) expected in quarantine",
    "rows": "key legacy table: rows written (hostile profiles: rows after the hostile rows were added)",
    "hostile_defects": "hostile profiles: key '<legacy_table>|<kind>': hostile defect rows recorded",
    "hostile_rows_added": "hostile profiles: key legacy table: rows the hostile profile inserted (included in 'rows')",
}

# ref_code rows in id order (id = md5(seed:ref_code:position)). The SQL picks some codes by
# position (appt_status 6-11, bill_status 21-23, encounter_status 29-30, encounter_type 31-36,
# allocation_reason 1-2): append, never reorder.
REF_CODES: list[tuple[str, str]] = (
    [("allocation_reason", c) for c in ("new_admission", "transfer", "upgrade", "downgrade", "medical_need")]
    + [("appt_status", c) for c in ("scheduled", "confirmed", "in_progress", "completed", "cancelled", "rescheduled")]
    + [("bed_status", c) for c in ("available", "occupied", "maintenance", "reserved")]
    + [("bed_type", c) for c in ("general", "icu", "private", "semi_private", "emergency")]
    + [("bill_status", c) for c in ("draft", "issued", "paid")]
    + [("billing_line", c) for c in ("lab", "medicine", "procedure", "stay", "service")]
    + [("encounter_status", c) for c in ("active", "completed")]
    + [("encounter_type", c) for c in ("consultation", "emergency", "follow_up", "routine_checkup", "new_patient", "legacy")]
    + [("payment_method", c) for c in ("cash", "card", "upi")]
    + [("unit", c) for c in ("mg", "ml", "g/dL", "mg/dL", "cells/uL", "IU/L", "mmol/L", "%", "fL", "lakh/uL",
                             "million/uL", "ng/dL", "ug/dL", "uIU/mL", "/hpf")]
    + [("vital_type", c) for c in ("bp_systolic", "bp_diastolic", "pulse", "temperature", "spo2", "respiratory_rate",
                                   "weight", "height", "blood_glucose", "pain_scale")]
)


# --- the plan: how many rows of what -------------------------------------------------------------


def _r(x: float) -> int:
    return int(round(x))


def plan(scale: str | int, profile: str = "blueprint", rates: dict[str, float] | None = None) -> dict[str, Any]:
    """Row counts (and fan-outs) for a scale. ``demo`` is the real hospital at the audit (the
    contract's rows-live); other scales use steady-state per-patient ratios of a running hospital.
    Ghost/zero-row tables (filled only in the blueprint profile) use the steady ratios everywhere."""
    if scale == "tiny":
        np_, live = 60, False
    elif scale == "demo":
        np_, live = 3254, True
    elif scale == "large":
        np_, live = 1_000_000, False
    elif isinstance(scale, int) and not isinstance(scale, bool) and scale >= 1:
        np_, live = scale, False
    else:
        raise ValueError(f"scale must be tiny, demo, large or a positive number of patients, not {scale!r}")
    c: dict[str, Any] = {"np": np_, "span": 730}
    if live:
        c.update(nd=25, nsu=20, npl=22, ns=13, nsdoc=4, nbeds=12, na=73, nipe=9, nlabe=40, nv=2,
                 nm=707, nseed=179, nbk=465, nb=696, nst=66, nrx=42, rx_fan=1.07, nbill=178, bill_fan=1.26,
                 pay_fan=0.75, npb=2)
    else:
        nd = max(3, _r(np_ / 130))
        nm = max(30, min(_r(200 + np_ * 0.15), 7000))
        c.update(nd=nd, nsu=max(4, _r(np_ / 160)), npl=max(2, _r(np_ * 0.007)), ns=max(5, _r(np_ / 250)),
                 nsdoc=max(2, min(nd, _r(np_ / 800))), nbeds=max(12, _r(np_ / 300)),
                 na=max(20, _r(np_ * 1.2)), nipe=max(6, _r(np_ * 0.05)), nlabe=max(8, _r(np_ * 0.3)),
                 nv=max(10, _r(np_ * 0.5)), nm=nm, nseed=max(10, _r(nm * 0.25)), nbk=_r(nm * 0.66),
                 nb=max(nm, _r(nm * 1.5)), nst=max(30, _r(np_ * 0.3)), nrx=max(20, _r(np_ * 0.6)), rx_fan=2.2,
                 nbill=max(40, _r(np_ * 1.4)), bill_fan=2.0, pay_fan=0.9, npb=max(2, _r(np_ * 0.002)))
    c["nsdoc"] = min(c["nsdoc"], c["nd"], c["ns"])
    c["nu"] = c["nd"] + c["nsu"] + c["npl"]
    c["ne"] = c["na"] + c["nipe"] + c["nlabe"]
    c["nmed"] = max(10, _r(c["nm"] * 0.6))
    c["npst"] = max(10, _r(c["nst"] * 0.3))
    c["nlab"] = max(10, _r(np_ * 0.4))
    c["nvisit"] = max(10, _r(np_ * 0.5))
    c["nmh"] = max(5, _r(np_ * 0.25))
    c["nall"] = max(5, _r(np_ * 0.15))
    c["nsym"] = max(5, _r(np_ * 0.3))
    c["npbl"] = max(3, _r(np_ * 0.01))
    c["nforeign"] = max(9, _r(9 * np_ / 3254))
    c["nlt"] = len(W.LAB_PANELS)
    c["nstaffu"] = c["nd"] + c["nsu"]
    # seed drugs that the import repeats: 178 of 179 at the default rate (contract defect 2)
    dup = (rates or DEFAULT_RATES).get("duplicate_drug", DEFAULT_RATES["duplicate_drug"])
    c["ndup"] = 0 if dup <= 0 else max(1, min(c["nseed"] - 1, _r(c["nseed"] * min(1.0, dup / 0.25 * 0.995))))
    c["nm"] = min(c["nm"], len(W.DRUG_STEMS) * len(W.STRENGTHS) * len(W.DOSAGE_FORMS) + c["ndup"] - c["nmed"])
    c["nmed_dup"] = 0 if dup <= 0 else max(1, _r(c["nmed"] * min(1.0, dup / 0.25 * 0.8)))
    # discharge headers: ghosts with rows live only because defect 28 asks for them
    c["npad"] = max(1, _r(c["nipe"] * (0.6 if profile == "blueprint" else 0.2)))
    return c


# --- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    table: str  # target table
    file: str  # sql/legacy/generate/<file>
    driver: str | None = None  # plan key: rows of generate_series(lo, hi) (chunked); None: one shot
    live: bool = True  # filled in the live profile (when the table exists there)
    fmt: bool = False  # the file names its target as {target} (composed with sql.Identifier)
    after: tuple[str, ...] = ()  # tables whose rows this step reads (the parallel scheduler waits)


STEPS: tuple[Step, ...] = (
    Step("ref_code", "ref_code.sql"),
    Step("users", "users.sql", "nu"),
    Step("departments", "departments.sql"),
    Step("staff", "staff.sql", "ns"),
    Step("doctors", "doctors.sql", "nd"),
    Step("patients", "patients.sql", "np"),
    Step("encounter", "encounter.sql", "ne"),
    Step("appointment", "appointment.sql", "na"),
    Step("appointments", "alias_appointments.sql", live=False, after=("appointment",)),
    Step("patient_visits", "patient_visits.sql", "nvisit", live=False),
    Step("vitals", "vitals.sql", "nv"),
    Step("patient_allergies", "patient_allergies.sql", "nall", live=False),
    Step("patient_symptoms", "patient_symptoms.sql", "nsym", live=False),
    Step("medical_history", "medical_history.sql", "nmh", live=False),
    Step("lab_tests", "lab_tests.sql", live=False),
    Step("lab_reports", "lab_reports.sql", "nlab", live=False),
    Step("lab_result_value", "lab_result_value.sql", "nlab", live=False, after=("lab_reports", "ref_code")),
    Step("medications", "medications.sql", "nm"),
    Step("medicines", "medicines.sql", "nmed", live=False, after=("medications",)),
    Step("medications_backup", "medications_backup.sql", after=("medications",)),
    Step("medicine_batches", "medicine_batches.sql", "nb"),
    Step("stock_transactions", "stock_transactions.sql", "nst", fmt=True),
    Step("pharmacy_stock_transactions", "stock_transactions.sql", "npst", live=False, fmt=True),
    Step("prescriptions", "prescriptions.sql", "nrx"),
    Step("prescription_items", "prescription_items.sql", "nrx", after=("prescriptions", "medications")),
    Step("prescription_dispensed", "prescription_dispensed.sql", "nrx", live=False, after=("prescriptions", "prescription_items")),
    Step("prescription_dispensed_items", "prescription_dispensed_items.sql", "nrx", live=False, after=("prescription_dispensed", "prescription_items")),
    Step("prescription_dispensing", "prescription_dispensing.sql", "nrx", live=False, after=("prescription_items",)),
    Step("pharmacy_bills", "pharmacy_bills.sql", "npb"),
    Step("pharmacy_bill_items", "pharmacy_bill_items.sql", "npb", after=("pharmacy_bills", "medications", "medicine_batches")),
    Step("pharmacy_billing", "pharmacy_billing.sql", "npbl", live=False),
    Step("pharmacy_billing_items", "pharmacy_billing_items.sql", "npbl", live=False, after=("pharmacy_billing", "medications")),
    Step("fee_categories", "fee_categories.sql"),
    Step("fee_rates", "fee_rates.sql"),
    Step("beds", "beds.sql", "nbeds"),
    Step("bed_allocations", "bed_allocations.sql", "nipe"),
    Step("patient_admissions", "patient_admissions.sql", "npad"),
    Step("billing_summary", "billing_summary.sql", "npad", after=("patient_admissions",)),
    Step("billing", "billing.sql", "nbill"),
    Step("billing_item", "billing_item.sql", "nbill", after=("billing", "ref_code", "medications")),
    Step("billing_items", "alias_billing_items.sql", live=False, after=("billing_item",)),
    Step("billing_payments", "billing_payments.sql", "nbill", after=("billing",)),
    Step("payment_ledger", "payment_ledger.sql", fmt=True, after=("billing_payments", "billing")),
    Step("payment_history", "payment_ledger.sql", live=False, fmt=True, after=("billing_payments", "billing")),
)

# per-step parameters (the shared ledger files are run for two tables)
STEP_PARAMS: dict[str, dict[str, Any]] = {
    "stock_transactions": {"tag": "stock_transactions", "n_rows_key": "nst", "days_from": 0, "days_span": 120},
    "pharmacy_stock_transactions": {"tag": "pharmacy_stock_transactions", "n_rows_key": "npst", "days_from": 60,
                                    "days_span": 340},
}

@dataclass(frozen=True)
class TruthStep:
    file: str  # sql/legacy/generate/truth/<file>
    needs: tuple[str, ...]  # legacy tables that must be tables in the profile
    target: str | None = None  # {target} and %(tag)s for the shared ledger files


TRUTH_STEPS: tuple[TruthStep, ...] = (
    TruthStep("patients.sql", ("patients",)),
    TruthStep("people.sql", ("users", "doctors", "staff", "patients")),
    TruthStep("clinical.sql", ("encounter", "appointment", "vitals", "ref_code")),
    TruthStep("patient_visits.sql", ("patient_visits",)),
    TruthStep("medical_history.sql", ("medical_history",)),
    TruthStep("lab.sql", ("lab_reports", "lab_result_value")),
    TruthStep("alias_appointments.sql", ("appointments",)),
    TruthStep("alias_billing_items.sql", ("billing_items",)),
    TruthStep("medications.sql", ("medications", "medications_backup")),
    TruthStep("medicines.sql", ("medicines",)),
    TruthStep("medicine_batches.sql", ("medicine_batches",)),
    TruthStep("stock.sql", ("stock_transactions",), "stock_transactions"),
    TruthStep("stock.sql", ("pharmacy_stock_transactions",), "pharmacy_stock_transactions"),
    TruthStep("prescriptions.sql", ("prescriptions", "prescription_items")),
    TruthStep("inpatient.sql", ("bed_allocations",)),
    TruthStep("discharge_headers.sql", ("patient_admissions", "billing_summary")),
    TruthStep("fees.sql", ("fee_categories", "fee_rates")),
    TruthStep("billing.sql", ("billing", "billing_item", "billing_payments")),
    TruthStep("ledger.sql", ("payment_ledger",), "payment_ledger"),
    TruthStep("ledger.sql", ("payment_history",), "payment_history"),
    TruthStep("figures.sql", ("lab_reports", "vitals", "patients", "medicine_batches", "billing")),
    TruthStep("figures_medicines.sql", ("medicines",)),
)

CHUNK_ROWS = 250_000
FAST_FK_PATIENTS = 5_000


@dataclass
class GenerationReport:
    url: str
    schema: str
    profile: str
    scale: str | int
    seed: int
    as_of: dt.date
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    truth_rows: dict[str, int] = field(default_factory=dict)
    truth_seconds: float = 0.0
    data_seconds: float = 0.0
    hostile_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        """Legacy rows written per wall-clock second of the data phase (tables run in parallel at
        larger scales, so this exceeds rows / sum of per-table seconds)."""
        data = self.data_seconds or sum(self.seconds.values())
        return self.total_rows / data if data else 0.0

    def __str__(self) -> str:
        lines = [f"legacy data: schema {self.schema}, profile {self.profile}, scale {self.scale}, seed {self.seed}, "
                 f"as_of {self.as_of}"]
        for t, n in self.rows.items():
            sec = self.seconds.get(t, 0.0)
            rate = f"{n / sec:,.0f} rows/s" if sec > 0 and n else ""
            lines.append(f"  {t:<30} {n:>12,}  {sec:7.2f}s  {rate}")
        lines.append(f"  {'TOTAL (wall clock)':<30} {self.total_rows:>12,}  {self.data_seconds:7.2f}s  "
                     f"{self.rows_per_second:,.0f} rows/s")
        lines.append(f"ground truth ({TRUTH_SCHEMA}): " + ", ".join(f"{k} {v:,}" for k, v in self.truth_rows.items())
                     + f" in {self.truth_seconds:.2f}s"
                     + (f"; hostile content in {self.hostile_seconds:.2f}s" if self.hostile_seconds else "")
                     + f"; total {self.total_seconds:.2f}s")
        return "\n".join(lines)


# --- parameters ----------------------------------------------------------------------------------


def _params(seed: int, counts: dict[str, Any], as_of: dt.date, rates: dict[str, float]) -> dict[str, Any]:
    p: dict[str, Any] = dict(counts)
    p.update(
        seed=seed, as_of=as_of, rates=json.dumps(rates, sort_keys=True),
        packs_until=PACKS_UNTIL, ledger_total_from=LEDGER_TOTAL_FROM,
        first_m=W.FIRST_NAMES_M, first_f=W.FIRST_NAMES_F, last=W.LAST_NAMES, streets=W.STREETS,
        cities=W.CITIES, states=W.STATES, relations=W.RELATIONS, blood=W.BLOOD_GROUPS, allergies=W.ALLERGIES,
        conditions=W.CONDITIONS, symptoms=W.SYMPTOMS, diagnoses=W.DIAGNOSES, specs=W.SPECIALIZATIONS,
        quals=W.QUALIFICATIONS, depts=W.DEPARTMENTS, staff_roles=W.STAFF_ROLES, user_roles=W.USER_STAFF_ROLES,
        stems=W.DRUG_STEMS, strengths=W.STRENGTHS, forms=W.DOSAGE_FORMS, form_abbrev=W.FORM_ABBREV,
        generics=W.GENERICS, mfrs=W.MANUFACTURERS, mfr_variants=W.MANUFACTURER_VARIANTS,
        med_categories=W.MEDICINE_CATEGORIES, suppliers=W.SUPPLIERS,
        lab_tests=[t for t, _ in W.LAB_PANELS], lab_defs=[d for _, d in W.LAB_PANELS],
        unp_results=W.UNPARSEABLE_RESULTS, unp_vitals=W.UNPARSEABLE_VITALS, frequencies=W.FREQUENCIES,
        meal_timing=W.MEAL_TIMING, unknown_statuses=W.UNKNOWN_STATUSES, discharge_reasons=W.DISCHARGE_REASONS,
        admission_reasons=W.ADMISSION_REASONS, fee_categories=W.FEE_CATEGORIES,
        fee_cat_ix=[r[0] for r in W.FEE_RATES], fee_services=[r[1] for r in W.FEE_RATES],
        fee_rates=[r[2] for r in W.FEE_RATES], fee_units=[r[3] for r in W.FEE_RATES],
        ref_domains=[d for d, _ in REF_CODES], ref_codes=[c for _, c in REF_CODES],
        vital_ranges=json.dumps(VITAL_RANGES),
    )
    return p


def check_rates(rates: dict[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_RATES)
    for kind, value in (rates or {}).items():
        if kind not in DEFECT_KINDS:
            raise ValueError(f"unknown defect kind {kind!r}; known: {', '.join(DEFECT_KINDS)}")
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"rate of {kind} must be within 0..1, not {value}")
        merged[kind] = value
    return merged


# --- running -------------------------------------------------------------------------------------


class _Progress:
    """A tqdm bar per table on a TTY when tqdm is installed, plain lines otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._tqdm = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self._tqdm = tqdm
            except ImportError:  # pragma: no cover
                self._tqdm = None

    def start(self, table: str, total: int):
        if not self.enabled:
            return None
        if self._tqdm is not None:
            return self._tqdm(total=total, desc=f"{table:<28}", unit="row", unit_scale=True, leave=True,
                              file=sys.stderr)
        print(f"generating {table} ({total:,} driver rows)", file=sys.stderr, flush=True)
        return None

    def update(self, bar, n: int) -> None:
        if bar is not None:
            bar.update(n)

    def done(self, bar, table: str, rows: int, seconds: float) -> None:
        if bar is not None:
            bar.close()
        elif self.enabled:
            print(f"  {table}: {rows:,} rows in {seconds:.2f}s", file=sys.stderr, flush=True)


def _file_sql(step_file: str, target: str | None = None) -> sql.Composable:
    text = (GEN_SQL_DIR / step_file).read_text(encoding="utf-8")
    if target is not None:
        return sql.SQL(text).format(target=sql.Identifier(target))  # type: ignore[arg-type]
    return sql.SQL(text)  # type: ignore[arg-type]


def _set_search_path(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("set local search_path to {}, {}").format(sql.Identifier(schema), sql.Identifier(TRUTH_SCHEMA)))


def _run_step(conn, step: Step, params: dict[str, Any], counts: dict[str, Any], progress: _Progress):
    query = _file_sql(step.file, step.table if step.fmt else None)
    extra = dict(STEP_PARAMS.get(step.table, {}))
    if "n_rows_key" in extra:
        extra["n_rows"] = counts[extra.pop("n_rows_key")]
    params = {**params, **extra}
    if step.driver is None:
        bar = progress.start(step.table, 1)
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = max(cur.rowcount, 0)
        progress.update(bar, 1)
        return rows, bar
    total = int(counts[step.driver])
    bar = progress.start(step.table, total)
    rows = 0
    lo = 1
    while lo <= total:
        hi = min(total, lo + CHUNK_ROWS - 1)
        with conn.cursor() as cur:
            cur.execute(query, {**params, "lo": lo, "hi": hi})
            rows += max(cur.rowcount, 0)
        progress.update(bar, hi - lo + 1)
        lo = hi + 1
    return rows, bar


def _prepare_session(conn: psycopg.Connection) -> None:
    """UTC session, no JIT, and the pg_temp helper functions (per connection). JIT compiling the
    long inlined expressions costs seconds per statement and buys nothing for a one-pass insert."""
    conn.execute("set timezone to 'UTC'")
    conn.execute("set jit = off")
    with conn.cursor() as cur:
        cur.execute(_file_sql("00_functions.sql"))
        # kind ordinals: pinned rows of different kinds never coincide within a table
        cur.execute(sql.SQL(
            "create or replace function pg_temp.kind_ord(t text) returns int language sql stable parallel safe "
            "as $$ select coalesce(array_position({}::text[], t), 0) $$").format(sql.Literal(list(DEFECT_KINDS))))


def _run_one(conn, step: Step, schema: str, params, counts, prog: _Progress, fast_fk: bool) -> tuple[int, float]:
    t0 = time.perf_counter()
    with conn.transaction():
        _set_search_path(conn, schema)
        if fast_fk:
            conn.execute("set local session_replication_role = replica")
        rows, bar = _run_step(conn, step, params, counts, prog)
    secs = time.perf_counter() - t0
    prog.done(bar, step.table, rows, secs)
    return rows, secs


def _run_steps(url: str, conn, steps: list[Step], schema: str, params, counts, prog: _Progress,
               report: "GenerationReport", *, workers: int, fast_fk: bool) -> None:
    """Run the steps in order on one connection, or on ``workers`` connections in parallel (a step
    starts once the steps it reads from are done; the FK triggers are off in that mode, so no other
    ordering matters). Each step is its own transaction."""
    def record(step: Step, rows: int, secs: float) -> None:
        report.rows[step.table] = report.rows.get(step.table, 0) + rows
        report.seconds[step.table] = report.seconds.get(step.table, 0.0) + secs

    if workers <= 1:
        for step in steps:
            record(step, *_run_one(conn, step, schema, params, counts, prog, fast_fk))
        return
    import threading

    present = {s.table for s in steps}
    done: set[str] = set()
    pending = list(steps)
    lock = threading.Condition()
    errors: list[BaseException] = []

    def worker(wconn) -> None:
        while True:
            with lock:
                while True:
                    if errors or not pending:
                        return
                    ready = next((s for s in pending if all(d in done or d not in present for d in s.after)), None)
                    if ready is not None:
                        pending.remove(ready)
                        break
                    lock.wait()
            try:
                rows, secs = _run_one(wconn, ready, schema, params, counts, prog, fast_fk)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                with lock:
                    errors.append(exc)
                    lock.notify_all()
                return
            with lock:
                record(ready, rows, secs)
                done.add(ready.table)
                lock.notify_all()

    extra = [psycopg.connect(url, autocommit=False) for _ in range(workers - 1)]
    try:
        for c in extra:
            _prepare_session(c)
            c.commit()
        threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in extra]
        for th in threads:
            th.start()
        worker(conn)
        for th in threads:
            th.join()
    finally:
        for c in extra:
            c.close()
    if errors:
        raise errors[0]


def _write_truth(conn, schema: str, profile: str, kinds: dict[str, str], params: dict[str, Any],
                 report: "GenerationReport", scale: str | int, *, rates: dict[str, float]) -> dict[str, int]:
    """Write hms_truth (run, defects, figures) by SQL over the rows just written."""
    with conn.transaction():
        with conn.cursor() as cur:
            cur.execute(sql.SQL((GEN_SQL_DIR / "truth" / "00_schema.sql").read_text(encoding="utf-8")))  # type: ignore[arg-type]
        _set_search_path(conn, schema)
        run = {"seed": report.seed, "scale": scale, "profile": profile, "as_of": report.as_of.isoformat(),
               "schema": schema, "rates": json.dumps(rates, sort_keys=True), "packs_until": PACKS_UNTIL.isoformat(),
               "ledger_total_from": LEDGER_TOTAL_FROM.isoformat()}
        with conn.cursor() as cur:
            cur.executemany("insert into hms_truth.run (key, value) values (%s, %s)", [(k, str(v)) for k, v in run.items()])
        for ts in TRUTH_STEPS:
            if any(kinds.get(n) != "table" for n in ts.needs):
                continue
            text = (GEN_SQL_DIR / "truth" / ts.file).read_text(encoding="utf-8")
            query = sql.SQL(text).format(target=sql.Identifier(ts.target)) if ts.target else sql.SQL(text)  # type: ignore[arg-type]
            conn.execute(query, {**params, "tag": ts.target})
        for table, kind in kinds.items():
            if kind == "table":
                conn.execute(sql.SQL("insert into hms_truth.figures (name, key, value) select 'rows', %s, count(*) from {}")
                             .format(sql.Identifier(table)), (table,))
        counts = {}
        for name in ("defects", "figures", "run"):
            counts[name] = conn.execute(sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(TRUTH_SCHEMA), sql.Identifier(name))).fetchone()[0]
    return counts


def ground_truth_json(url: str) -> dict[str, Any]:
    """The ground truth of the last generation in the database at ``url``, as a JSON-ready dict:
    ``run`` (parameters), ``defects`` (list of rows), ``figures`` ({name: {key: value}}), and the
    vocabularies ``reason_codes``, ``expected_outcomes``, ``defect_kinds``, ``vital_ranges``."""
    with psycopg.connect(url) as conn:
        conn.execute("set timezone to 'UTC'")
        run = dict(conn.execute("select key, value from hms_truth.run order by key").fetchall())
        defects = [
            {"kind": k, "legacy_table": t, "legacy_key": key, "expected": e, "reason": r, "detail": d}
            for k, t, key, e, r, d in conn.execute(
                "select kind, legacy_table, legacy_key, expected, reason, detail from hms_truth.defects "
                "order by kind, legacy_table, legacy_key, expected, detail::text")
        ]
        figures: dict[str, dict[str, float]] = {}
        for name, key, value in conn.execute("select name, key, value from hms_truth.figures order by name, key"):
            figures.setdefault(name, {})[key] = float(value) if value != int(value) else int(value)
    return {
        "run": run,
        "defects": defects,
        "figures": figures,
        "reason_codes": dict(REASON_CODES),
        "expected_outcomes": dict(EXPECTED_OUTCOMES),
        "defect_kinds": {k: {"contract_defects": list(v[0]), "meaning": v[1]} for k, v in DEFECT_KINDS.items()},
        "vital_ranges": {k: list(v) for k, v in VITAL_RANGES.items()},
        "hostile_kinds": {k: {"reason": r, "meaning": m} for k, (r, m) in HOSTILE_KINDS.items()},
    }


# --- hostile profiles ----------------------------------------------------------------------------
#
# ``hostile`` (blueprint shape) and ``hostile-live`` (live shape) first generate their shape exactly
# as above (same seed, same rows, same truth), then, in one transaction:
#   1. drop every PK, UNIQUE, FK, CHECK (and exclusion) constraint and every NOT NULL of the legacy
#      tables (catalog-driven; the FKs are remembered first, they define the references below);
#   2. drift a few columns to TEXT (HOSTILE_DRIFT), as live databases drift;
#   3. rank each table's rows by a seeded hash and give each hostile class a disjoint slice of the
#      ranks ("slots", _hslot) for in-place changes; insert-classes copy rows from a snapshot taken
#      before any change (_hsrc, pg_temp._hsnap_<table>);
#   4. change the slot rows (sql/legacy/generate/hostile/*.sql for the table-specific classes, SQL
#      built from the catalog here for the generic ones), insert the copies, then point some
#      references at repeated ids and NULL some keys;
#   5. record every injected row/value in hms_truth.defects (kind HOSTILE_*, expected ACCOUNT), the
#      references that match nothing, several rows or a soft-deleted row (over every remembered FK),
#      recount figures 'rows', add 'hostile_defects', flag base defects on touched rows
#      (detail.hostile_touched) and drop the outcome figures hostile rows make wrong.
# Rates scale with the data (HOSTILE_RATE of a table's rows per class, at least a handful of rows at
# tiny scale, at most HOSTILE_MODIFY_SHARE of a table changed in place); 1 MiB strings: HOSTILE_BIG_ROWS
# rows per table.

HOSTILE_PROFILES: dict[str, str] = {"hostile": "blueprint", "hostile-live": "live"}
GENERATOR_PROFILES: tuple[str, ...] = ("blueprint", "live", *HOSTILE_PROFILES)
HOSTILE_SQL_DIR = GEN_SQL_DIR / "hostile"
HOSTILE_OUTCOME = "ACCOUNT"

# kind -> (reason code, what it is)
HOSTILE_KINDS: dict[str, tuple[str, str]] = {
    "HOSTILE_NO_CONSTRAINTS": ("NO_CONSTRAINTS", "key '*': the table's PK/UNIQUE/FK/CHECK/NOT NULL were dropped (detail lists them)"),
    "HOSTILE_TYPE_DRIFT": ("TYPE_DRIFT", "key '*': a column drifted to TEXT (detail: contract_type); key <id>: a value only "
                                         "TEXT can hold in it ('abc', 'NaN', '#VALUE!', 'null')"),
    "HOSTILE_CASE_DUPLICATE": ("DUPLICATE", "inserted copy (new id) of a row whose names/e-mail/code differ only by case, "
                                            "spaces or Unicode form (detail.duplicate_of, variant)"),
    "HOSTILE_REPEATED_ID": ("DUPLICATE_KEY", "inserted row with the id of another row, identical or changed (detail.variant)"),
    "HOSTILE_NULL_KEY": ("MISSING_KEY", "id set NULL (legacy_key 'NULL'; detail.original_id, and row_md5 = md5(row::text) "
                                        "under TimeZone UTC, DateStyle ISO) or patient_id set NULL (legacy_key = id)"),
    "HOSTILE_NULL_VALUE": ("MISSING_VALUE", "a non-NULL value set NULL (any column but id, NOT NULL ones included)"),
    "HOSTILE_EMPTY_STRING": ("MISSING_VALUE", "a text value set to '' or blanks"),
    "HOSTILE_BIG_STRING": ("OVERSIZED_VALUE", "a 1 MiB text value (ASCII or Tamil)"),
    "HOSTILE_SCRIPT_NAME": ("VALID_UNUSUAL", "a name in Tamil or Devanagari, or accented (NFC or NFD)"),
    "HOSTILE_ONE_WORD_NAME": ("VALID_UNUSUAL", "a one-word name"),
    "HOSTILE_HONORIFIC_NAME": ("PLACEHOLDER_VALUE", "a name that is only an honorific"),
    "HOSTILE_TEXT_NUMBER": ("UNPARSEABLE_VALUE", "a number in TEXT with a comma, a unit or a range"),
    "HOSTILE_EXTREME_DATE": ("OUT_OF_RANGE", "a date/timestamp set to 0001-01-01 or 9999-12-31"),
    "HOSTILE_IMPOSSIBLE_DATE": ("UNPARSEABLE_VALUE", "an impossible date in TEXT ('31/02/2020', '2021-13-01', ...)"),
    "HOSTILE_BAD_JSON": ("UNEXPECTED_SHAPE", "JSON of an unexpected shape (scalar, list of lists, nested, null) or not JSON"),
    "HOSTILE_VOCAB_VARIANT": ("VOCAB_VARIANT", "a vocabulary value differing only by case or spaces"),
    "HOSTILE_DANGLING_REF": ("ORPHAN_FK", "a reference (a column with an FK in the contract) matching no row"),
    "HOSTILE_AMBIGUOUS_REF": ("AMBIGUOUS_REF", "a reference matching more than one row (a repeated id)"),
    "HOSTILE_SOFT_DELETED_PARENT": ("DELETED_PARENT", "a doctors/staff row soft-deleted (deleted_at set)"),
    "HOSTILE_SOFT_DELETED_REF": ("DELETED_PARENT", "a reference to a soft-deleted row"),
    "HOSTILE_SELF_LOOP": ("REFERENCE_LOOP", "a transfer chain that returns to itself (bed_allocations self or two-row "
                                            "cycle; stock ledger reference_id = its own id)"),
}

# columns drifted to TEXT: (table, column)
HOSTILE_DRIFT: tuple[tuple[str, str], ...] = (
    ("patients", "date_of_birth"), ("vitals", "heart_rate"), ("vitals", "temperature"), ("billing_payments", "amount"),
    ("medicine_batches", "expiry_date"), ("doctors", "availability_hours"),
)
# the columns a case duplicate varies (its "identity")
HOSTILE_IDENTITY: dict[str, tuple[str, ...]] = {
    "patients": ("name", "email"), "users": ("name", "email"), "staff": ("first_name", "last_name", "email"),
    "departments": ("name",), "medications": ("name",), "medicines": ("name",), "ref_code": ("code",),
    "beds": ("bed_number", "room_number"), "lab_tests": ("test_name",), "fee_categories": ("name",),
    "fee_rates": ("service_name",),
}
# free-text vocabulary-like columns besides the contract's vocabularies (ward and department names)
HOSTILE_VOCAB_EXTRA: tuple[tuple[str, str], ...] = (
    ("patients", "department_ward"), ("users", "department"), ("doctors", "specialization"),
    ("medications", "manufacturer"), ("medications", "category"),
)
# where a 1 MiB string goes: the first of these that is an unbounded text column of the table
HOSTILE_BIG_COLUMNS: tuple[str, ...] = (
    "address", "notes", "description", "instructions", "side_effects", "first_name", "condition_name", "label",
    "reason", "treatment", "customer_name", "supplier_name", "diagnosis", "symptoms", "allergen", "symptom_name",
    "test_name", "vital_notes",
)
HOSTILE_RATE = 0.005  # share of a table's rows per class
HOSTILE_MODIFY_SHARE = 0.6  # at most this share of a table's rows (20 or more) is changed in place
HOSTILE_BIG_ROWS = 2  # 1 MiB strings per table
# outcome figures that hostile rows make wrong (dropped); the per-row ones are dropped for touched keys
HOSTILE_DROPPED_FIGURES = ("money_billed", "money_paid", "stock_on_hand_units", "distinct_medicines",
                           "quarantined_rows", "quarantined_values")

# in-place classes in priority order: (class, {table: minimum rows} or None for the generic ones)
_HOSTILE_MODIFY: tuple[tuple[str, dict[str, int] | None], ...] = (
    ("self_loop", {"bed_allocations": 1, "stock_transactions": 1, "pharmacy_stock_transactions": 1}),
    ("bad_json", {"users": 3, "doctors": 1, "lab_reports": 5}),
    ("soft_delete", {"doctors": 1, "staff": 1}),
    ("name", {"patients": 6, "users": 2, "staff": 2, "billing": 2}),
    ("text_number", {"patients": 6, "vitals": 4, "billing_payments": 3}),
    ("drift_junk", {"vitals": 2, "billing_payments": 2}),
    ("impossible_date", {"patients": 4, "medicine_batches": 4}),
    ("null_value", None), ("null_key", None), ("dangling", None), ("empty", None), ("ambiguous", None),
    ("extreme_date", None), ("vocab", None), ("big_string", None),
)
# insert classes: (class, {table: minimum rows} or None = every table)
_HOSTILE_INSERT: tuple[tuple[str, dict[str, int] | None], ...] = (
    ("case_dup", {"patients": 5, "departments": 5, "medications": 5, "users": 2, "staff": 2, "ref_code": 3,
                  "beds": 2, "medicines": 2, "lab_tests": 1, "fee_categories": 1, "fee_rates": 1}),
    ("repeated_id", None),
    ("loop_cycle", {"bed_allocations": 1}),
)
_HOSTILE_FILES = ("bad_json.sql", "names.sql", "text_numbers.sql", "drift_values.sql", "dates.sql", "loops.sql",
                  "soft_delete.sql")
_NEEDS_RE = re.compile(r"^-- needs: (.+)$", re.M)
_SLOT_RE = re.compile(r"\b\w+\.tbl = '(\w+)' and \w+\.cls = '(\w+)'")


@dataclass
class _Col:
    name: str
    type: str  # information_schema data_type
    maxlen: int | None
    generated: bool

    @property
    def is_text(self) -> bool:
        return self.type in ("text", "character varying")

    @property
    def is_date(self) -> bool:
        return self.type in ("date", "timestamp with time zone", "timestamp without time zone")


@dataclass
class _Catalog:
    tables: dict[str, list[_Col]]  # relkind 'r' of the legacy schema, name order
    fks: list[tuple[str, str, str, str]]  # (child, column, parent, parent column), remembered before the drop
    rows: dict[str, int] = field(default_factory=dict)

    def cols(self, table: str) -> dict[str, _Col]:
        return {c.name: c for c in self.tables[table]}


def _hostile_statements(path) -> list[tuple[str, tuple[str, ...]]]:
    """The statements of a hostile SQL file (separated by ';' at the end of a line) with the tables
    their "-- needs:" line names."""
    out = []
    for chunk in re.split(r";[ \t]*$", path.read_text(encoding="utf-8"), flags=re.M):
        body = "\n".join(line for line in chunk.splitlines() if not line.lstrip().startswith("--")).strip()
        if not body:
            continue
        needs = _NEEDS_RE.search(chunk)
        out.append((chunk.strip(), tuple(t.strip() for t in needs.group(1).split(",")) if needs else ()))
    return out


def _hostile_catalog(conn, schema: str) -> _Catalog:
    tables: dict[str, list[_Col]] = {}
    for t, c, typ, maxlen, gen in conn.execute(
            """select c.table_name, c.column_name, c.data_type, c.character_maximum_length, c.is_generated = 'ALWAYS'
               from information_schema.columns c
               join pg_class r on r.relname = c.table_name
               join pg_namespace n on n.oid = r.relnamespace and n.nspname = c.table_schema
               where c.table_schema = %s and r.relkind = 'r'
               order by c.table_name, c.ordinal_position""", (schema,)):
        tables.setdefault(t, []).append(_Col(c, typ, maxlen, bool(gen)))
    fks = [tuple(r) for r in conn.execute(
        """select cl.relname, a.attname, pc.relname, pa.attname
           from pg_constraint c
           join pg_class cl on cl.oid = c.conrelid
           join pg_namespace n on n.oid = cl.relnamespace
           join pg_class pc on pc.oid = c.confrelid
           join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
           join pg_attribute pa on pa.attrelid = c.confrelid and pa.attnum = c.confkey[1]
           where n.nspname = %s and c.contype = 'f' and cardinality(c.conkey) = 1
           order by 1, 2""", (schema,))]
    return _Catalog(tables, fks)  # type: ignore[arg-type]


def _drop_constraints(conn, schema: str) -> list[tuple[str, dict[str, Any]]]:
    """Drop PK/UNIQUE/FK/CHECK/exclusion constraints (FKs first) and NOT NULLs; returns the
    table-level facts for the truth."""
    dropped: dict[str, dict[str, list[str]]] = {}
    rows = conn.execute(
        """select cl.relname, c.conname, c.contype
           from pg_constraint c join pg_class cl on cl.oid = c.conrelid join pg_namespace n on n.oid = cl.relnamespace
           where n.nspname = %s and cl.relkind = 'r' and c.contype in ('f', 'p', 'u', 'c', 'x')
           order by c.contype <> 'f', cl.relname, c.conname""", (schema,)).fetchall()
    for table, name, contype in rows:
        conn.execute(sql.SQL("alter table {}.{} drop constraint {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(name)))
        dropped.setdefault(table, {"constraints": [], "not_null": []})["constraints"].append(f"{contype}:{name}")
    notnull: dict[str, list[str]] = {}
    for table, col in conn.execute(
            """select cl.relname, a.attname from pg_attribute a
               join pg_class cl on cl.oid = a.attrelid join pg_namespace n on n.oid = cl.relnamespace
               where n.nspname = %s and cl.relkind = 'r' and a.attnum > 0 and not a.attisdropped and a.attnotnull
               order by cl.relname, a.attnum""", (schema,)):
        notnull.setdefault(table, []).append(col)
    for table, cols in notnull.items():
        conn.execute(sql.SQL("alter table {}.{} ").format(sql.Identifier(schema), sql.Identifier(table))
                     + sql.SQL(", ").join(sql.SQL("alter column {} drop not null").format(sql.Identifier(c)) for c in cols))
        dropped.setdefault(table, {"constraints": [], "not_null": []})["not_null"] = cols
    # unique indexes that no constraint owns (none in the committed DDL; kept generic)
    for (idx,) in conn.execute(
            """select i.indexrelid::regclass::text from pg_index i join pg_class cl on cl.oid = i.indrelid
               join pg_namespace n on n.oid = cl.relnamespace
               where n.nspname = %s and i.indisunique
                 and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)""", (schema,)).fetchall():
        conn.execute(sql.SQL("drop index {}").format(sql.SQL(idx)))
    return sorted(dropped.items())


def _hostile_plan(cat: _Catalog, vocab: dict[str, list[str]], big: dict[str, str]):
    """Slots: [(table, class, lo, hi)] in-place rank ranges, and sources: [(table, class, vrk, rank)]."""
    slots: list[tuple[str, str, int, int]] = []
    sources: list[tuple[str, str, int, int]] = []
    for table in sorted(cat.tables):
        n = cat.rows.get(table, 0)
        if n == 0:
            continue
        cols = cat.cols(table)
        fk_cols = [c for t, c, _, _ in cat.fks if t == table]

        def generic_applies(cls: str) -> bool:
            return {
                "null_key": True, "null_value": True,
                "dangling": bool(fk_cols), "ambiguous": bool(fk_cols),
                "empty": any(c.is_text and not c.generated for c in cols.values()),
                "extreme_date": any(c.is_date and not c.generated for c in cols.values()),
                "vocab": bool(vocab.get(table)), "big_string": table in big,
            }[cls]

        # small tables (tiny scale) may change all rows but one, so that they still show some classes
        budget = max(1, n - 1) if n < 20 else int(n * HOSTILE_MODIFY_SHARE)
        used = 0
        for cls, mins in _HOSTILE_MODIFY:
            if mins is None:
                if not generic_applies(cls):
                    continue
                want = min(HOSTILE_BIG_ROWS, n) if cls == "big_string" else max(2, round(n * HOSTILE_RATE))
            elif table in mins:
                want = max(mins[table], round(n * HOSTILE_RATE))
            else:
                continue
            k = min(want, budget - used)
            if k <= 0:
                continue
            slots.append((table, cls, used + 1, used + k))
            used += k
        offset = 0
        for cls, mins in _HOSTILE_INSERT:
            if mins is None:
                k = max(2 if n >= 20 else 1, round(n * HOSTILE_RATE))
            elif table in mins:
                k = max(mins[table], round(n * HOSTILE_RATE))
            else:
                continue
            for vrk in range(1, k + 1):
                rank = used + 1 + (offset + vrk - 1) % (n - used) if n > used else 1 + (offset + vrk - 1) % n
                sources.append((table, cls, vrk, rank))
            offset += k
    return slots, sources


def _lit_list(values: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Literal(v) for v in values)


def _bounded(expr: sql.Composable, col: _Col) -> sql.Composable:
    return sql.SQL("left({}, {})").format(expr, sql.Literal(col.maxlen)) if col.maxlen else expr


def _hostile_generic(conn, cls: str, table: str, cat: _Catalog, vocab: dict[str, list[str]], big: dict[str, str],
                     seed: int) -> None:
    """One generic in-place class on one table, with its defect rows."""
    T = sql.Identifier(table)
    cols = cat.cols(table)
    kind = {"null_value": "HOSTILE_NULL_VALUE", "empty": "HOSTILE_EMPTY_STRING", "extreme_date": "HOSTILE_EXTREME_DATE",
            "vocab": "HOSTILE_VOCAB_VARIANT", "big_string": "HOSTILE_BIG_STRING", "null_key": "HOSTILE_NULL_KEY"}.get(cls)
    head = sql.SQL("insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail) ")
    const = sql.SQL("{}, {}, ").format(sql.Literal(kind), sql.Literal(table))
    tail = sql.SQL(", {}, {}, ").format(sql.Literal(HOSTILE_OUTCOME), sql.Literal(HOSTILE_KINDS[kind][0] if kind else ""))
    slot = sql.SQL("select id, vrk, k from _hslot where tbl = {} and cls = {}").format(sql.Literal(table), sql.Literal(cls))

    if cls == "big_string":
        c = sql.Identifier(big[table])
        conn.execute(sql.SQL(
            "with s as ({slot}), u as (update {T} t set {c} = pg_temp.hbig({seed}, {tl}, s.vrk) from s where t.id = s.id "
            "returning t.id, octet_length(t.{c}) as octets, length(t.{c}) as chars, md5(t.{c}) as digest) "
            "{head} select {const} id::text{tail} jsonb_build_object('column', {cl}, 'octets', octets, 'chars', chars, "
            "'md5', digest) from u").format(slot=slot, T=T, c=c, seed=sql.Literal(seed), tl=sql.Literal(table),
                                            head=head, const=const, tail=tail, cl=sql.Literal(big[table])))
        return
    if cls == "null_key":
        has_pid = "patient_id" in cols
        pid_set = sql.SQL(", patient_id = case when mod(s.vrk, 2) = 0 then null else t.patient_id end") if has_pid else sql.SQL("")
        id_null = sql.SQL("mod(s.vrk, 2) = 1") if has_pid else sql.SQL("true")
        conn.execute(sql.SQL(
            "with s as ({slot}), u as (update {T} t set id = case when {id_null} then null else t.id end{pid_set} "
            "from s where t.id = s.id returning s.id as orig, t.id is null as id_nulled, md5(t::text) as row_md5) "
            "{head} select {const} case when id_nulled then 'NULL' else orig::text end{tail} "
            "jsonb_build_object('column', case when id_nulled then 'id' else 'patient_id' end, 'original_id', orig, "
            "'row_md5', row_md5) from u").format(slot=slot, T=T, id_null=id_null, pid_set=pid_set, head=head,
                                                 const=const, tail=tail))
        return

    if cls == "null_value":
        targets = [c for c in cols.values() if not c.generated and c.name != "id"]
    elif cls == "empty":
        targets = [c for c in cols.values() if not c.generated and c.is_text and c.name != "id"]
    elif cls == "extreme_date":
        targets = [c for c in cols.values() if not c.generated and c.is_date]
    elif cls == "vocab":
        targets = [cols[c] for c in vocab[table]]
    else:  # dangling / ambiguous
        targets = [cols[c] for t, c, _, _ in cat.fks if t == table]
    if not targets:
        return
    kk = sql.SQL("least(s.k, {})").format(sql.Literal(len(targets)))
    hit = [sql.SQL("mod({} - s.vrk, {}) = 0").format(sql.Literal(i), kk) for i, _ in enumerate(targets, 1)]

    def new_value(i: int, c: _Col) -> sql.Composable:
        ci = sql.SQL("t.{}").format(sql.Identifier(c.name))
        if cls == "null_value":
            return sql.SQL("null")
        if cls == "empty":
            return sql.SQL("case when mod(s.vrk, 4) = 0 then '  ' else '' end")
        if cls == "extreme_date":
            return sql.SQL("pg_temp.hextreme(s.vrk + {})::{}").format(sql.Literal(i), sql.SQL(c.type))
        if cls == "vocab":
            return _bounded(sql.SQL("pg_temp.hvariant({}, s.vrk + {})").format(ci, sql.Literal(i)), c)
        if cls == "dangling":
            return sql.SQL("pg_temp.uid({}, {}, s.vrk)").format(
                sql.Literal(seed), sql.Literal(f"hostile.dangling.{table}.{c.name}"))
        # ambiguous: one of the parent's repeated ids (none: unchanged)
        return sql.SQL("coalesce(r{}.a[1 + mod(s.vrk - 1, cardinality(r{}.a))], {})").format(
            sql.SQL(str(i)), sql.SQL(str(i)), ci)

    sets = sql.SQL(", ").join(
        sql.SQL("{c} = case when {hit} then {v} else t.{c} end").format(c=sql.Identifier(c.name), hit=hit[i - 1], v=new_value(i, c))
        for i, c in enumerate(targets, 1))
    ctes = [sql.SQL("s as ({})").format(slot)]
    froms = [sql.SQL("s")]
    if cls == "ambiguous":
        for i, c in enumerate(targets, 1):
            parent, pcol = next((p, pc) for t, cc, p, pc in cat.fks if t == table and cc == c.name)
            ctes.append(sql.SQL("r{i} as (select array_agg(v order by v) as a from (select {pc} as v from {P} where {pc} is "
                                "not null group by {pc} having count(*) > 1) x)").format(
                i=sql.SQL(str(i)), pc=sql.Identifier(pcol), P=sql.Identifier(parent)))
            froms.append(sql.SQL("r{}").format(sql.SQL(str(i))))
    if cls in ("dangling", "ambiguous"):  # recorded afterwards over every FK (_hostile_ref_truth)
        conn.execute(sql.SQL("with {ctes} update {T} t set {sets} from {froms} where t.id = s.id").format(
            ctes=sql.SQL(", ").join(ctes), T=T, sets=sets, froms=sql.SQL(", ").join(froms)))
        return
    values = sql.SQL(", ").join(
        sql.SQL("({}, {}, {}, {})").format(
            sql.Literal(c.name), sql.Literal(i),
            sql.SQL("t.{} is not null").format(sql.Identifier(c.name)) if cls in ("null_value", "vocab") else sql.SQL("true"),
            sql.SQL("({})::text").format(new_value(i, c)) if cls in ("empty", "vocab") else
            sql.SQL("left(pg_temp.hextreme(s.vrk + {}), 10)").format(sql.Literal(i)) if cls == "extreme_date" else
            sql.SQL("null::text"))
        for i, c in enumerate(targets, 1))
    detail = {
        "null_value": sql.SQL("jsonb_build_object('column', v.c)"),
        "empty": sql.SQL("jsonb_build_object('column', v.c, 'value', v.val)"),
        "extreme_date": sql.SQL("jsonb_build_object('column', v.c, 'value', v.val)"),
        "vocab": sql.SQL("jsonb_build_object('column', v.c, 'value', v.val, 'variant', pg_temp.hvariant_name(s.vrk + v.o))"),
    }[cls]
    ctes.append(sql.SQL(
        "d as ({head} select {const} t.id::text{tail} {detail} from {T} t join s on t.id = s.id "
        "cross join lateral (values {values}) v(c, o, eligible, val) "
        "where v.eligible and mod(v.o - s.vrk, {kk}) = 0)").format(
            head=head, const=const, tail=tail, detail=detail, T=T, values=values, kk=kk))
    conn.execute(sql.SQL("with {ctes} update {T} t set {sets} from {froms} where t.id = s.id").format(
        ctes=sql.SQL(", ").join(ctes), T=T, sets=sets, froms=sql.SQL(", ").join(froms)))


def _hostile_insert(conn, cls: str, table: str, cat: _Catalog, seed: int) -> None:
    """Copies of snapshot rows: repeated ids (identical or changed) and case duplicates (new id)."""
    cols = [c for c in cat.tables[table] if not c.generated]
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in cols)
    snap = sql.Identifier(f"_hsnap_{table}")
    src = sql.SQL("select r.vrk, b.* from _hsrc r join pg_temp.{} b on b.id = r.id where r.tbl = {} and r.cls = {}").format(
        snap, sql.Literal(table), sql.Literal(cls))
    head = sql.SQL("insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail) ")
    if cls == "repeated_id":
        by = {c.name: c for c in cols}
        changed = next((n for n in ("updated_at", "created_at") if n in by), None) or next(
            (c.name for c in cols if c.is_text), None)

        def expr(c: _Col) -> sql.Composable:
            ident = sql.Identifier(c.name)
            if c.name != changed:
                return ident
            if c.is_text:
                new = _bounded(sql.SQL("coalesce({}, '') || ' (copy)'").format(ident), c)
            else:
                new = sql.SQL("{} + interval '1 day'").format(ident)
            return sql.SQL("case when mod(vrk, 2) = 0 then {} else {} end").format(new, ident)

        conn.execute(sql.SQL(
            "with src as ({src}), ins as (insert into {T} ({names}) select {exprs} from src) "
            "{head} select 'HOSTILE_REPEATED_ID', {tl}, id::text, {out}, 'DUPLICATE_KEY', "
            "jsonb_build_object('variant', case when mod(vrk, 2) = 0 and {ch}::text is not null then 'changed' else 'identical' end, "
            "'column', case when mod(vrk, 2) = 0 and {ch}::text is not null then {chl} end, 'inserted', true) from src").format(
                src=src, T=sql.Identifier(table), names=names, exprs=sql.SQL(", ").join(expr(c) for c in cols),
                head=head, tl=sql.Literal(table), out=sql.Literal(HOSTILE_OUTCOME),
                ch=sql.Identifier(changed) if changed else sql.SQL("null"), chl=sql.Literal(changed)))
        return
    # case_dup
    ident_cols = [c for c in cols if c.name in HOSTILE_IDENTITY[table]]
    new_id = sql.SQL("pg_temp.uid({}, {}, vrk)").format(sql.Literal(seed), sql.Literal(f"hostile.dup.{table}"))

    def dexpr(c: _Col) -> sql.Composable:
        if c.name == "id":
            return new_id
        if c in ident_cols:
            return _bounded(sql.SQL("pg_temp.hvariant({}, vrk)").format(sql.Identifier(c.name)), c)
        return sql.Identifier(c.name)

    values = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(c.name), dexpr(c)) for c in ident_cols)
    conn.execute(sql.SQL(
        "with src as ({src}), ins as (insert into {T} ({names}) select {exprs} from src) "
        "{head} select 'HOSTILE_CASE_DUPLICATE', {tl}, ({new_id})::text, {out}, 'DUPLICATE', "
        "jsonb_build_object('duplicate_of', id, 'variant', pg_temp.hvariant_name(vrk), 'inserted', true, "
        "'values', jsonb_build_object({values})) from src").format(
            src=src, T=sql.Identifier(table), names=names, exprs=sql.SQL(", ").join(dexpr(c) for c in cols),
            head=head, tl=sql.Literal(table), new_id=new_id, out=sql.Literal(HOSTILE_OUTCOME), values=values))


def _hostile_ref_truth(conn, cat: _Catalog) -> None:
    """References (every FK the DDL had) that match no row, several rows, or a soft-deleted row."""
    for child, col, parent, pcol in cat.fks:
        if child not in cat.tables or parent not in cat.tables:
            continue
        C, c, P, pc = (sql.Identifier(x) for x in (child, col, parent, pcol))
        detail = sql.SQL("jsonb_build_object('column', {cl}, 'value', t.{c}, 'parent', {pl}, 'matches', coalesce(m.n, 0))").format(
            cl=sql.Literal(col), c=c, pl=sql.Literal(f"{parent}.{pcol}"))
        conn.execute(sql.SQL(
            "insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail) "
            "select case when m.n is null then 'HOSTILE_DANGLING_REF' else 'HOSTILE_AMBIGUOUS_REF' end, {cl}, "
            "coalesce(t.id::text, 'NULL'), {out}, case when m.n is null then 'ORPHAN_FK' else 'AMBIGUOUS_REF' end, {detail} "
            "from {C} t left join (select {pc} as v, count(*) as n from {P} where {pc} is not null group by {pc}) m "
            "on m.v = t.{c} where t.{c} is not null and (m.n is null or m.n > 1)").format(
                cl=sql.Literal(child), out=sql.Literal(HOSTILE_OUTCOME), detail=detail, C=C, c=c, P=P, pc=pc))
        if "deleted_at" in cat.cols(parent):
            conn.execute(sql.SQL(
                "insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail) "
                "select 'HOSTILE_SOFT_DELETED_REF', {cl}, coalesce(t.id::text, 'NULL'), {out}, 'DELETED_PARENT', "
                "jsonb_build_object('column', {col}, 'value', t.{c}, 'parent', {pl}) "
                "from {C} t where t.{c} in (select {pc} from {P} where deleted_at is not null)").format(
                    cl=sql.Literal(child), out=sql.Literal(HOSTILE_OUTCOME), col=sql.Literal(col), c=c,
                    pl=sql.Literal(f"{parent}.{pcol}"), C=C, P=P, pc=pc))


def _hostile(conn, schema: str, kinds: dict[str, str], params: dict[str, Any], report: GenerationReport) -> None:
    """Spoil the generated shape in place (see the section comment) and extend the truth."""
    from hms_pipeline.legacy.schema import contract

    seed = report.seed
    hp = {"seed": seed, "as_of": report.as_of, "h_tamil": W.TAMIL_NAMES, "h_deva": W.DEVANAGARI_NAMES,
          "h_accented": W.ACCENTED_NAMES, "h_one_word": W.ONE_WORD_NAMES, "h_honorific": W.HONORIFICS}
    with conn.transaction():
        _set_search_path(conn, schema)
        conn.execute("set local datestyle to 'ISO, MDY'")
        with conn.cursor() as cur:
            cur.execute(sql.SQL((HOSTILE_SQL_DIR / "00_functions.sql").read_text(encoding="utf-8")))  # type: ignore[arg-type]
        cat = _hostile_catalog(conn, schema)
        facts = _drop_constraints(conn, schema)
        drift = [(t, c) for t, c in HOSTILE_DRIFT if t in cat.tables and c in cat.cols(t)]
        for t, c in drift:
            conn.execute(sql.SQL("alter table {T} alter column {c} type text using {c}::text").format(
                T=sql.Identifier(t), c=sql.Identifier(c)))
        contract_types = {(t, c): next(col.type for col in contract().columns_of(t) if col.name == c) for t, c in drift}
        cat = _Catalog(_hostile_catalog(conn, schema).tables, cat.fks)
        for t in cat.tables:
            cat.rows[t] = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(t))).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail) "
                "values (%s, %s, '*', %s, %s, %s)",
                [("HOSTILE_NO_CONSTRAINTS", t, HOSTILE_OUTCOME, "NO_CONSTRAINTS", json.dumps(f)) for t, f in facts]
                + [("HOSTILE_TYPE_DRIFT", t, HOSTILE_OUTCOME, "TYPE_DRIFT",
                    json.dumps({"column": c, "contract_type": contract_types[(t, c)], "actual_type": "text"}))
                   for t, c in drift])
        # which columns the generic classes use
        vocab: dict[str, list[str]] = {}
        pairs = [(v.table, v.column) for v in contract().vocab if v.enforcement != "ref_code"] + list(HOSTILE_VOCAB_EXTRA)
        for t, c in pairs:
            col = cat.cols(t).get(c) if t in cat.tables else None
            if col is not None and col.is_text and not col.generated and c not in vocab.get(t, []):
                vocab.setdefault(t, []).append(c)
        drifted = set(drift)
        big = {}
        for t, cols in cat.tables.items():
            unbounded = {c.name for c in cols if c.is_text and not c.maxlen and not c.generated and (t, c.name) not in drifted}
            pick = next((n for n in HOSTILE_BIG_COLUMNS if n in unbounded), None)
            if pick:
                big[t] = pick
        # slots and sources
        slots, sources = _hostile_plan(cat, vocab, big)
        conn.execute("create temp table _hplan (tbl text, cls text, lo int, hi int) on commit drop")
        conn.execute("create temp table _hsrc_plan (tbl text, cls text, vrk int, rk int) on commit drop")
        with conn.cursor() as cur:
            cur.executemany("insert into _hplan values (%s, %s, %s, %s)", slots)
            cur.executemany("insert into _hsrc_plan values (%s, %s, %s, %s)", sources)
        conn.execute("create temp table _hrank (tbl text, id uuid, rk int) on commit drop")
        need = {}
        for t, _, _, hi in slots:
            need[t] = max(need.get(t, 0), hi)
        for t, _, _, rk in sources:
            need[t] = max(need.get(t, 0), rk)
        for t, r in sorted(need.items()):
            n = cat.rows[t]
            keep = min(1048576, (r * 3 + 64) * 1048576 // max(n, 1))  # prefilter: a share of the rows, by the same hash
            conn.execute(sql.SQL(
                "insert into _hrank select {tl}, id, row_number() over (order by h, id) from "
                "(select id, hashtextextended({pre} || id::text, {seed}) as h from {T}) x "
                "where (h & 1048575) < {keep}").format(
                    tl=sql.Literal(t), pre=sql.Literal(f"hostile:{t}:"), seed=sql.Literal(seed), T=sql.Identifier(t),
                    keep=sql.Literal(keep)))
        conn.execute("create temp table _hslot on commit drop as select r.tbl, p.cls, r.id, r.rk - p.lo + 1 as vrk, "
                     "p.hi - p.lo + 1 as k from _hrank r join _hplan p on p.tbl = r.tbl and r.rk between p.lo and p.hi")
        conn.execute("create temp table _hsrc on commit drop as select s.tbl, s.cls, r.id, s.vrk from _hsrc_plan s "
                     "join _hrank r on r.tbl = s.tbl and r.rk = s.rk")
        conn.execute("analyze _hslot")  # without statistics the updates below nest-loop over whole tables
        conn.execute("analyze _hsrc")
        src_tables = sorted({t for t, _, _, _ in sources})
        for t in src_tables:
            conn.execute(sql.SQL("create temp table {} on commit drop as select * from {} where id in "
                                 "(select id from _hsrc where tbl = {})").format(
                sql.Identifier(f"_hsnap_{t}"), sql.Identifier(t), sql.Literal(t)))
        if "lab_result_value" in cat.tables:  # the report each result row belonged to (figures below)
            conn.execute("create temp table _h_lrv on commit drop as select id, lab_report_id from lab_result_value")
        has_rows = {t for t, n in cat.rows.items() if n > 0}
        planned = {(t, c) for t, c, _, _ in slots} | {(t, c) for t, c, _, _ in sources}

        def run_file(name: str) -> None:
            """Run the statements whose tables are filled and whose slot/source class is planned."""
            for stmt, needs in _hostile_statements(HOSTILE_SQL_DIR / name):
                uses = set(_SLOT_RE.findall(stmt))
                if all(t in has_rows for t in needs) and (not uses or uses & planned):
                    conn.execute(sql.SQL(stmt), hp)  # type: ignore[arg-type]

        # in-place changes
        for name in _HOSTILE_FILES:
            run_file(name)
        for cls in ("dangling", "null_value", "empty", "extreme_date", "vocab", "big_string"):
            for t in sorted({t for t, c, _, _ in slots if c == cls}):
                _hostile_generic(conn, cls, t, cat, vocab, big, seed)
        # copies, then references to repeated ids, then NULL keys (last: they hide the rows' ids)
        for cls in ("case_dup", "repeated_id"):
            for t in sorted({t for t, c, _, _ in sources if c == cls}):
                _hostile_insert(conn, cls, t, cat, seed)
        if "bed_allocations" in src_tables:
            run_file("loops_insert.sql")
        for cls in ("ambiguous", "null_key"):
            for t in sorted({t for t, c, _, _ in slots if c == cls}):
                _hostile_generic(conn, cls, t, cat, vocab, big, seed)
        _hostile_ref_truth(conn, cat)
        # figures: exact row counts, hostile defects per table and kind; outcome figures that hostile
        # rows make wrong are dropped (per-row ones only for the touched rows)
        for t in cat.tables:
            n = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(t))).fetchone()[0]
            conn.execute("update hms_truth.figures set value = %s where name = 'rows' and key = %s", (n, t))
            report.rows[t] = n
        conn.execute("""
            insert into hms_truth.figures (name, key, value)
            select 'hostile_defects', legacy_table || '|' || kind, count(*) from hms_truth.defects
            where kind like 'HOSTILE%%' group by 2
            union all
            select 'hostile_rows_added', legacy_table, count(*) from hms_truth.defects
            where kind like 'HOSTILE%%' and (detail->>'inserted')::boolean group by 2""", ())
        conn.execute("""
            create temp table _htouched on commit drop as
            select distinct legacy_table as tbl, legacy_key as key from hms_truth.defects
            where kind like 'HOSTILE%%' and legacy_key not in ('*', 'NULL')
            union select distinct legacy_table, detail->>'original_id' from hms_truth.defects
            where kind like 'HOSTILE%%' and detail ? 'original_id'""", ())
        conn.execute("""
            update hms_truth.defects d set detail = d.detail || '{"hostile_touched": true}'
            where d.kind not like 'HOSTILE%%'
              and exists (select 1 from _htouched h where h.tbl = d.legacy_table and h.key = d.legacy_key)""", ())
        conn.execute("""
            delete from hms_truth.figures f using _htouched h
            where (f.name, h.tbl) in (('vitals_rows_per_vitals', 'vitals'), ('vitals_rows_per_patient_text', 'patients'),
                                      ('analytes_per_lab_report', 'lab_reports'))
              and f.key = h.key""", ())
        if "lab_result_value" in cat.tables:
            conn.execute("""
                delete from hms_truth.figures f where f.name = 'analytes_per_lab_report' and f.key in (
                    select l.lab_report_id::text from _h_lrv l join _htouched h on h.tbl = 'lab_result_value'
                    and h.key = l.id::text)""", ())
        conn.execute("delete from hms_truth.figures where name = any(%s)", (list(HOSTILE_DROPPED_FIGURES),))
        with conn.cursor() as cur:
            cur.executemany("insert into hms_truth.run (key, value) values (%s, %s)", [
                ("shape", HOSTILE_PROFILES[report.profile]),
                ("hostile_drift", json.dumps([f"{t}.{c}" for t, c in drift])),
                ("hostile_figures_dropped", json.dumps(list(HOSTILE_DROPPED_FIGURES))),
            ])
        counts = {}
        for name in ("defects", "figures", "run"):
            counts[name] = conn.execute(sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(TRUTH_SCHEMA), sql.Identifier(name))).fetchone()[0]
        report.truth_rows = counts


def _fast_fk(url: str, counts: dict[str, Any]) -> bool:
    """Skip the per-row FK triggers (session_replication_role = replica) above FAST_FK_PATIENTS
    patients when the role may (superuser). The rows reference ids that exist by construction (the
    same hash functions), which the tests check with the triggers on at tiny scale and with
    verify_foreign_keys() at any scale."""
    if counts["np"] < FAST_FK_PATIENTS:
        return False
    with psycopg.connect(url) as conn:
        return bool(conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0])


def generate(url: str, *, schema: str = "public", scale: str | int = "tiny", seed: int = 42,
             profile: str = "blueprint", as_of: dt.date = DEFAULT_AS_OF, rates: dict[str, float] | None = None,
             progress: bool = False, create_schema: bool = True) -> GenerationReport:
    """(Re)create the legacy schema, fill it with synthetic dirty data and write the ground truth.

    With ``create_schema`` the legacy schema is dropped (cascade) and re-created by
    ``create_legacy_schema``; without it the tables must exist and be empty. Returns a report of
    rows, seconds and rows/s per table."""
    check_schema_name(schema)
    if schema == TRUTH_SCHEMA:
        raise ValueError(f"the legacy schema cannot be {TRUTH_SCHEMA!r} (it holds the ground truth)")
    if profile not in GENERATOR_PROFILES:
        raise ValueError(f"profile must be one of {', '.join(map(repr, GENERATOR_PROFILES))}, not {profile!r}")
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise ValueError("as_of must be a date")
    seed = int(seed)
    # the hostile profiles generate their shape's data first (same seed, same rows), then spoil it
    shape = HOSTILE_PROFILES.get(profile, profile)
    merged_rates = check_rates(rates)
    counts = plan(scale, shape, merged_rates)
    params = _params(seed, counts, as_of, merged_rates)
    kinds = legacy_tables(shape)
    report = GenerationReport(url=url, schema=schema, profile=profile, scale=scale, seed=seed, as_of=as_of)
    prog = _Progress(progress)
    started = time.perf_counter()
    fast_fk = _fast_fk(url, counts)
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("set timezone to 'UTC'")
        if create_schema:
            with conn.transaction():
                conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            create_legacy_schema(conn, schema, shape)
        with conn.transaction():
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(TRUTH_SCHEMA)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(TRUTH_SCHEMA)))
        conn.commit()
        _prepare_session(conn)
        conn.commit()
        steps = [s for s in STEPS if kinds.get(s.table) == "table" and (shape == "blueprint" or s.live)]
        data_started = time.perf_counter()
        _run_steps(url, conn, steps, schema, params, counts, prog, report, workers=2 if fast_fk else 1,
                   fast_fk=fast_fk)
        report.data_seconds = time.perf_counter() - data_started
        t0 = time.perf_counter()
        report.truth_rows = _write_truth(conn, schema, profile, kinds, params, report, scale, rates=merged_rates)
        report.truth_seconds = time.perf_counter() - t0
        if profile in HOSTILE_PROFILES:
            t0 = time.perf_counter()
            _hostile(conn, schema, kinds, params, report)
            report.hostile_seconds = time.perf_counter() - t0
    report.total_seconds = time.perf_counter() - started
    return report
