"""pharmacy: the drug master (items); batches, stock ledger, prescriptions and dispensing to come."""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

SPECS = [
    TableSpec(
        "pharmacy", "items", sources=(Source("medications"), Source("medicines")), deps=("ref.codes",),
        description="Grain: one row per real medicine. From medications and medicines where it is a table "
        "(blueprint; in the live database it is a view over medications, never staged); never from "
        "medications_backup (a copy, excluded at staging). Normalized: code (blanks, case), name (blanks and "
        "case for matching only; '500 mg' = '500mg'), strength (the column, else from the name when the column "
        "is empty; a number without a unit stays unknown), form (one vocabulary, ref.codes "
        "map:medications.dosage_form, else the form word of the name), manufacturer (case, blanks, misspellings: "
        "map:medications.manufacturer). Merged (MERGED, detail.rule) in this order: SAME_CODE, SAME_ATTRIBUTES "
        "(normalized name, strength, form, manufacturer), SAME_NAME_COMPATIBLE (same name, an attribute unknown "
        "on one side, nothing contradicting, one compatible group only); never across a contradicting strength, "
        "form or manufacturer, never across different names. Pairs neither clearly the same nor different load "
        "apart with WARN AMBIGUOUS_MATCH; a reviewer's decision (ref.codes review:pharmacy.items, "
        "sql/ref/codes.d/pharmacy_review.sql) merges them on the next run (rule REVIEWER). Survivor: medications "
        "before medicines, then import-scheme code, seed-scheme code, other code, none; then legacy key. One code "
        "per item (the first of its group; 'MIG-...' with WARN CODE_ASSIGNED when none is free); every other "
        "legacy code resolves through pharmacy.item_for_code(). A row without a name is quarantined "
        "(MISSING_VALUE). Legacy attributes: columns manufacturer, generic_name, hsn_code, gst_rate and "
        "is_external (status/is_active -> is_active) because the new system needs them; everything else (prices, "
        "stock counters, reorder levels, schedule, category, pack unit, storage, location, CGST/SGST halves, "
        "supplier, raw spellings) is kept in legacy_attributes (with legacy_codes) for the compatibility layer; "
        "the merged rows' own values stay reachable through ops.legacy_id_map.",
    ),
]

defs = table_definitions(SPECS)
