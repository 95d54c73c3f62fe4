"""clinical: encounters (the backbone), appointments, vitals, allergies, symptoms, medical history."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

# The `consumes` predicates are static SQL over the staged row ``s`` calling the same etl.*
# functions as the transforms (sql/ddl/094_etl_shared.sql), so the rows a table is responsible for
# and the rows it loads follow one rule: etl.is_item (a one-item column says something),
# etl.has_items (free-text lists hold an item; the none-words are etl.is_none_item's),
# etl.has_text_vitals (a TEXT vital on patients is not blank; temp_unit alone is not a measurement).

SPECS = [
    TableSpec(
        "clinical", "encounters",
        sources=(
            Source("encounter"),
            Source("patient_visits"),
            Source("bed_allocations"),
            Source("patients",
                   consumes="etl.has_text_vitals(s.height, s.weight, s.bmi, s.temperature, s.bp_systolic, "
                            "s.bp_diastolic, s.pulse, s.spo2, s.respiratory_rate, s.random_blood_sugar) "
                            "or etl.has_items(s.initial_symptoms, s.primary_complaint)"),
            Source("patient_symptoms", consumes="etl.is_item(s.symptom_name)"),
        ),
        deps=("core.patients", "core.staff", "core.facilities", "ref.codes"),
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
        sources=(
            Source("vitals"),
            Source("patients",
                   consumes="etl.has_text_vitals(s.height, s.weight, s.bmi, s.temperature, s.bp_systolic, "
                            "s.bp_diastolic, s.pulse, s.spo2, s.respiratory_rate, s.random_blood_sugar)"),
        ),
        deps=("clinical.encounters",),
        merges=False,
        description="Grain: one row per measurement. The wide vitals table and the TEXT vitals on "
        "patients, unpivoted (kind, value, explicit unit). Unparseable text (UNPARSEABLE_VALUE) and "
        "impossible values (OUT_OF_RANGE) are quarantined per value.",
    ),
    TableSpec(
        "clinical", "allergies",
        sources=(Source("patient_allergies", consumes="etl.is_item(s.allergen)"),
                 Source("patients", consumes="etl.has_items(s.allergies)")),
        deps=("core.patients",),
        merges=False,
        description="Grain: one row per allergy of a patient. From patient_allergies and the free text "
        "patients.allergies split into items ('none'/'nil'/'NKDA'... ignored).",
    ),
    TableSpec(
        "clinical", "symptoms",
        sources=(
            Source("patient_symptoms", consumes="etl.is_item(s.symptom_name)"),
            Source("patients", consumes="etl.has_items(s.initial_symptoms, s.primary_complaint)"),
            Source("patient_visits", consumes="etl.has_items(s.symptoms, s.current_complaints)"),
        ),
        deps=("clinical.encounters",),
        merges=False,
        description="Grain: one row per symptom noted during an encounter. From patient_symptoms, the "
        "free text patients.initial_symptoms/primary_complaint and patient_visits.symptoms/"
        "current_complaints split into items, on the encounter encounters attached or inferred.",
    ),
    TableSpec(
        "clinical", "medical_history",
        sources=(
            Source("medical_history", consumes="etl.is_item(s.condition_name)"),
            Source("patients",
                   consumes="etl.has_items(s.medical_history, s.chronic_conditions, s.previous_surgeries)"),
        ),
        deps=("core.patients",),
        merges=False,
        description="Grain: one row per history entry of a patient. From medical_history and the free "
        "text patients.medical_history/chronic_conditions/previous_surgeries split into items.",
    ),
]

defs = table_definitions(SPECS)
