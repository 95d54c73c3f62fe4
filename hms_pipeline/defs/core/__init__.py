"""core: facilities, departments, people (persons, patients, users, staff), roles, schedules."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

SPECS = [
    TableSpec(
        "core", "facilities", sources=(),
        description="Grain: one row per facility. From settings (the legacy DB has no facilities).",
    ),
    TableSpec(
        "core", "departments", sources=(Source("departments"),), deps=("core.facilities", "ref.codes"),
        description="Grain: one row per legacy department. Type mapped by name through ref.codes "
        "(map:departments.type); unmapped names load with type NULL and a WARN.",
    ),
    TableSpec(
        "core", "staff_roles", sources=(), deps=("ref.codes",),
        description="Grain: one row per canonical staff role. Derived from the roles in users, staff "
        "and doctors, mapped by ref.codes (map:staff.role); unmapped roles load lower-cased with a WARN.",
    ),
    TableSpec(
        "core", "persons",
        sources=(Source("patients"), Source("users"), Source("staff"), Source("doctors")),
        deps=("ref.codes",),
        description="Grain: one row per human. Duplicate patient registrations (same normalized name, "
        "mobile and date of birth) are merged; patient logins merge into their patient; staff rows "
        "into their login (user_id, e-mail, then mobile); doctors into their login (users.id or "
        "auth_id); a doctor without login is quarantined (ORPHAN_FK). Fabricated names/e-mails become "
        "NULL with a WARN.",
    ),
    TableSpec(
        "core", "patients", sources=(Source("patients"),), deps=("core.persons",),
        description="Grain: one row per patient, keyed by UHID (legacy patient_id). Duplicate "
        "registrations are merged into the surviving one.",
    ),
    TableSpec(
        "core", "users", sources=(Source("users"),), deps=("core.persons",),
        description="Grain: one row per login (staff and patient logins), linked to its person.",
    ),
    TableSpec(
        "core", "staff",
        sources=(Source("users", consumes="not etl.is_patient_login(s.role)"), Source("staff"), Source("doctors")),
        deps=("core.persons", "core.departments", "core.staff_roles"),
        description="Grain: one row per person working at the facility. A staff login, its staff row "
        "and its doctor row are one staff member (the others MERGED). Department from staff.department_id "
        "or the free-text users.department (WARN when unresolved); license from doctors.",
    ),
    TableSpec(
        "core", "staff_schedules",
        sources=(Source("doctors", consumes="s.availability_hours is not null"),), deps=("core.staff",),
        description="Grain: one row per doctor's recurring availability, parsed from "
        "doctors.availability_hours (days, sessions, working hours).",
    ),
]

defs = table_definitions(SPECS)
