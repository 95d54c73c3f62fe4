"""clinical lab tables: the test catalog and the lab_reports split into orders, items and results.

How a report splits into analytes and
which test each analyte is lives in one place, ``etl.lab_report_analytes`` (sql/ddl/092_lab_helpers.sql).
"""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

# lab_tests derives tests from the reports' analytes, so report changes must re-run it; the reports
# themselves are accounted for by lab_orders / lab_order_items / lab_results, not by lab_tests.
_TRIGGER_ONLY = "false"

SPECS = [
    TableSpec(
        "clinical", "lab_tests",
        sources=(
            Source("lab_tests"),
            Source("lab_reports", consumes=_TRIGGER_ONLY),
            Source("lab_result_value", consumes=_TRIGGER_ONLY),
        ),
        description="Grain: one row per test, keyed by code. The legacy catalog (test_code, test_name, "
        "sample_type) plus tests named only in lab reports (analytes, or the ordered test of a report "
        "without analytes) that match no catalog name: code 'LEGACY-[<SPECIMEN>-]<NAME>', deduplicated "
        "by normalized name within a specimen. lab_reports/lab_result_value only trigger the derivation.",
    ),
    TableSpec(
        "clinical", "lab_orders", sources=(Source("lab_reports"),),
        deps=("clinical.encounters", "core.patients", "core.staff"), merges=False,
        description="Grain: one row per legacy lab report. Encounter: the patient's encounter nearest "
        "before the sample (else the first after, WARN INFERRED_ENCOUNTER; none or unknown patient: "
        "quarantined ORPHAN_FK). ordered_by from doctor_id; ordered_at = sample_collected_date, else "
        "created_at.",
    ),
    TableSpec(
        "clinical", "lab_order_items",
        sources=(Source("lab_reports"), Source("lab_result_value")),
        deps=("clinical.lab_orders", "clinical.lab_tests", "ref.codes"),
        description="Grain: one row per analyte of a lab report (results JSON and lab_result_value "
        "combined per analyte, never twice), or the ordered test of a report without analytes. "
        "Status from the report (map:lab_reports.status). lab_result_value rows are MERGED into "
        "their analyte's item.",
    ),
    TableSpec(
        "clinical", "lab_results",
        sources=(
            Source("lab_reports", consumes="etl.lab_has_results(s.results)"),
            Source("lab_result_value"),
        ),
        deps=("clinical.lab_order_items", "ref.codes"),
        description="Grain: one row per reported analyte value (same split as the items: N analytes -> "
        "N results). The value is kept as text; one that does not read as a number loads with a WARN "
        "(UNPARSEABLE_VALUE), as does a missing unit (MISSING_UNIT) unless the analyte is dimensionless "
        "(map:lab_results.unit). ref_range from normal_ranges / lab_result_value.normal_range; "
        "result_at = report_date. Unreadable results JSON is quarantined (UNPARSEABLE_VALUE).",
    ),
]

defs = table_definitions(SPECS)
