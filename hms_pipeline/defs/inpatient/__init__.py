"""inpatient: wards, beds, admissions, bed allocations (legacy beds, bed_allocations, patient_admissions)."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

SPECS = [
    TableSpec(
        "inpatient", "wards", sources=(), deps=("core.departments", "core.facilities"),
        description="Grain: one row per department that has beds (the legacy DB has no wards). Derived "
        "from beds.department_id and recomputed whole each run (legacy key: the department); named "
        "after the department. A department not loaded keeps its ward with a WARN.",
    ),
    TableSpec(
        "inpatient", "beds", sources=(Source("beds"),), deps=("inpatient.wards", "ref.codes"),
        description="Grain: one row per legacy bed. label = bed_number; type and status mapped by "
        "ref.codes (map:beds.bed_type, map:beds.status; unmapped -> NULL with a WARN); ward of the "
        "bed's department.",
    ),
    TableSpec(
        "inpatient", "admissions",
        sources=(Source("bed_allocations"), Source("patient_admissions")),
        deps=("clinical.encounters", "core.facilities"),
        description="Grain: one row per inpatient admission. bed_allocations rows are grouped per "
        "admission (ip_number, else patient + encounter; Q33): the earliest opens it (LOADED), "
        "transfers are MERGED; patient_admissions headers are MERGED through bed_allocation_id "
        "(unlinked headers quarantined ORPHAN_FK). admit/discharge are IST wall clock (Q28). The "
        "IPD encounter id derives from the opening allocation.",
    ),
    TableSpec(
        "inpatient", "bed_allocations", sources=(Source("bed_allocations"),),
        deps=("inpatient.admissions", "inpatient.beds"),
        description="Grain: one row per legacy bed allocation (a stay in one bed). Linked to its "
        "admission and bed; start/end are IST wall clock (Q28). Overlapping allocations of one bed: "
        "the later one is quarantined (OVERLAPPING_ALLOCATION).",
    ),
]

defs = table_definitions(SPECS)
