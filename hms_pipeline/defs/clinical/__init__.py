"""clinical: encounters (the backbone), appointments, vitals, allergies, symptoms, medical history."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

# Free-text list items that record nothing (compared lower-case, trimmed of blanks and dots). Bound
# into the transforms as %(none_items)s and rendered into the `consumes` predicates below, so the
# rows a table is responsible for and the rows it loads follow one list.
NONE_ITEMS = ("", "-", "none", "nil", "na", "n/a", "no", "nkda", "nka", "no known allergies",
              "no known drug allergies", "not known")
# The TEXT vitals on legacy patients (Q22); temp_unit alone is not a measurement.
PATIENT_TEXT_VITALS = ("height", "weight", "bmi", "temperature", "bp_systolic", "bp_diastolic", "pulse",
                       "spo2", "respiratory_rate", "random_blood_sugar")

_NONE_SQL = "array[" + ", ".join(f"'{w}'" for w in NONE_ITEMS) + "]::text[]"
_PARAMS = {"none_items": list(NONE_ITEMS)}


def has_items(*columns: str) -> str:
    """SQL predicate on the staged row ``s``: one of the free-text columns holds an item that says
    something (split on commas and semicolons, as the transforms split it)."""
    text = ", ".join(f"s.{c}" for c in columns)
    return (f"exists (select 1 from regexp_split_to_table(concat_ws(',', {text}), '[,;]') as i (item) "
            f"where lower(btrim(i.item, E' \\t\\r\\n.')) <> all ({_NONE_SQL}))")


def has_text_vitals() -> str:
    """SQL predicate on the staged patients row ``s``: at least one TEXT vital is not blank."""
    return "coalesce(" + ", ".join(f"nullif(btrim(s.{c}), '')" for c in PATIENT_TEXT_VITALS) + ") is not null"


def is_item(column: str) -> str:
    """SQL predicate: a one-item column says something."""
    return f"lower(btrim(s.{column}, E' \\t\\r\\n.')) <> all ({_NONE_SQL})"


_HAS_COMPLAINT = has_items("initial_symptoms", "primary_complaint")

SPECS = [
    TableSpec(
        "clinical", "encounters",
        sources=(
            Source("encounter"),
            Source("patient_visits"),
            Source("bed_allocations"),
            Source("patients", consumes=f"({has_text_vitals()}) or {_HAS_COMPLAINT}"),
            Source("patient_symptoms", consumes=is_item("symptom_name")),
        ),
        deps=("core.patients", "core.staff", "core.facilities", "ref.codes"),
        extra_params=_PARAMS,
        description="Grain: one row per encounter (OPD/ER visit, inpatient stay). From legacy encounter "
        "(type via ref_code, appointment-path times are IST wall clock), patient_visits (a visit of a "
        "live appointment is MERGED into its encounter), and one IPD encounter per admission opened by "
        "the first bed allocation (by ip_number, else patient + encounter; transfers and the "
        "IP-prescribing legacy encounter are MERGED into it). Records without an encounter (TEXT "
        "vitals and complaints on patients, patient_symptoms) are attached to the encounter in progress "
        "at their time, else an encounter is inferred for them ('<key>#inferred').",
    ),
    TableSpec(
        "clinical", "appointments",
        sources=(Source("appointment"), Source("appointments")),
        deps=("clinical.encounters", "core.facilities", "ref.codes"),
        description="Grain: one row per appointment slot. From legacy appointment (patient and doctor "
        "of its encounter, status via ref_code appt_status; a NULL status is BOOKED in the future of "
        "the data, else NULL with a WARN); rows of the blueprint-profile appointments table that copy "
        "an appointment row are MERGED into it.",
    ),
    TableSpec(
        "clinical", "vitals",
        sources=(Source("vitals"), Source("patients", consumes=has_text_vitals())),
        deps=("clinical.encounters",),
        merges=False,
        description="Grain: one row per measurement. The wide vitals table and the TEXT vitals on "
        "patients, unpivoted (kind, value, explicit unit). Unparseable text (UNPARSEABLE_VALUE) and "
        "impossible values (OUT_OF_RANGE) are quarantined per value.",
    ),
    TableSpec(
        "clinical", "allergies",
        sources=(Source("patient_allergies", consumes=is_item("allergen")),
                 Source("patients", consumes=has_items("allergies"))),
        deps=("core.patients",),
        merges=False,
        extra_params=_PARAMS,
        description="Grain: one row per allergy of a patient. From patient_allergies and the free text "
        "patients.allergies split into items ('none'/'nil'/'NKDA'... ignored).",
    ),
    TableSpec(
        "clinical", "symptoms",
        sources=(
            Source("patient_symptoms", consumes=is_item("symptom_name")),
            Source("patients", consumes=_HAS_COMPLAINT),
            Source("patient_visits", consumes=has_items("symptoms", "current_complaints")),
        ),
        deps=("clinical.encounters",),
        merges=False,
        extra_params=_PARAMS,
        description="Grain: one row per symptom noted during an encounter. From patient_symptoms, the "
        "free text patients.initial_symptoms/primary_complaint and patient_visits.symptoms/"
        "current_complaints split into items, on the encounter encounters attached or inferred.",
    ),
    TableSpec(
        "clinical", "medical_history",
        sources=(
            Source("medical_history", consumes=is_item("condition_name")),
            Source("patients",
                   consumes=has_items("medical_history", "chronic_conditions", "previous_surgeries")),
        ),
        deps=("core.patients",),
        merges=False,
        extra_params=_PARAMS,
        description="Grain: one row per history entry of a patient. From medical_history and the free "
        "text patients.medical_history/chronic_conditions/previous_surgeries split into items.",
    ),
]

defs = table_definitions(SPECS)
