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
    TableSpec(
        "pharmacy", "batches", sources=(Source("medicine_batches"),), deps=("pharmacy.items",), merges=False,
        description="Grain: one row per legacy batch (lot) of an item (medicine_batches); the same batch number "
        "under different items is different batches. Item: whichever of medicine_id / medication_id is set, "
        "through the drug master's provenance (a merged medication -> its survivor's item); one side only: WARN "
        "AMBIGUOUS_REF; both set and resolving to different items: quarantined CONFLICTING_REF; none resolving: "
        "ORPHAN_FK (none set: MISSING_VALUE). Quantities: a batch received before the pack cut-over "
        "(2026-02-27) counts packs, converted to units with the pack size its notes state (WARN PACKS_NOT_UNITS); "
        "without one it stays in packs (unit 'pack', WARN UNKNOWN_PACK_SIZE). initial_qty = received quantity, "
        "received_on, unit and pack_size are columns; the quantity on hand opens the batch in the ledger "
        "(pharmacy.inventory_txns); a batch without it is quarantined MISSING_VALUE. A batch number another "
        "legacy drug uses: WARN AMBIGUOUS_REF. Expired batches load through the migration bypass (audited by the "
        "expiry trigger). Prices (per pack), supplier, purchase, raw quantities, flags and notes are kept in "
        "legacy_attributes.",
    ),
    TableSpec(
        "pharmacy", "inventory_txns",
        sources=(Source("stock_transactions"), Source("pharmacy_stock_transactions")),
        deps=("pharmacy.items", "pharmacy.batches", "core.facilities", "core.departments", "ref.codes"),
        merges=False, append_only=True, refreshes=("view.stock_on_hand",),
        # a re-derivation over a written ledger: the planner guesses ~100 rows for the ledger streams
        # (memo functions) and probes them in a nested loop per legacy row (20k patients: 24.6M
        # rows removed by join filter, 5.9 s; 83 s at 100k); hash joins give the same rows in 0.6 s
        planner=(("enable_nestloop", "off"),),
        description="Grain: one row per stock movement of the immutable signed ledger (UPDATE, DELETE and "
        "TRUNCATE refused by a trigger). From stock_transactions and pharmacy_stock_transactions (one mapping; "
        "absent or empty in a profile: nothing), plus the balances derived from medicine_batches (through "
        "pharmacy.batches). Legacy types map to GRN/ADJUST/ISSUE/DISPENSE/RETURN and a direction through "
        "ref.codes map:stock_transactions.* (unlisted: quarantined UNMAPPED_VALUE); the sign follows the "
        "direction (WARN WRONG_SIGN); purchases counted in packs before the cut-over are converted with the "
        "batch's pack size (WARN PACKS_NOT_UNITS); the batch is the item's batch with that number (none: "
        "quarantined UNKNOWN_BATCH; no number: no batch); quantity 0: ZERO_QTY; no live item: ORPHAN_FK. "
        "ref_table/ref_id: the ledger row or department the legacy row references, else NULL. Per (facility, "
        "item, batch) an opening balance (GRN '<batch id>#opening', dated at receipt) makes the ledger sum equal "
        "the legacy quantity on hand in units; later runs add one ADJUST ('#adjust-<n>') per batch whose legacy "
        "quantity moved without a ledger row, and a correcting ADJUST ('<id>#correction-<n>') per legacy row "
        "that changed or went after it was written; a position whose batch or item went (a legacy batch "
        "deleted, an item merged) is zeroed by an ADJUST naming it (append-only: rows keep the parents they "
        "were written with). Rows already written are re-emitted unchanged: a re-run without legacy change "
        "writes nothing. \"view\".stock_on_hand is refreshed (concurrently) in the same transaction whenever "
        "rows were written.",
    ),
    TableSpec(
        "pharmacy", "prescriptions", sources=(Source("prescriptions"),),
        deps=("clinical.encounters", "core.patients", "core.staff", "ref.codes"), merges=False,
        description="Grain: one row per legacy prescription (prescriptions). Encounter: encounter_id through "
        "provenance (an IP-prescribing encounter resolves to its IPD stay), else its appointment's encounter, "
        "else the patient's encounter in progress at prescribed_at (both WARN INFERRED_ENCOUNTER); none: "
        "quarantined ORPHAN_FK. prescribed_by from doctor_id (unresolved: NULL, WARN ORPHAN_FK); prescribed_at "
        "= created_at, or issue_date at local midnight when the row was written on another day. rx_number "
        "(legacy prescription_id), status (map:prescriptions.status; unknown: NULL, WARN UNKNOWN_STATUS), "
        "instructions, diagnosis and notes are columns; a dangling appointment_id is reported (WARN "
        "ORPHAN_FK) and not kept; appointment_id, issue_date, has_lab_tests and the raw status are kept in "
        "legacy_attributes; patient_id only attaches (the encounter's patient is the patient); updated_at "
        "dropped.",
    ),
    TableSpec(
        "pharmacy", "rx_lines", sources=(Source("prescription_items"),),
        deps=("pharmacy.prescriptions", "pharmacy.items", "ref.codes"), merges=False,
        planner=(("enable_nestloop", "off"),),
        description="Grain: one row per legacy prescription item (prescription_items). rx_id through provenance "
        "(prescription not loaded: quarantined ORPHAN_FK). Item: medication_id through provenance (a merged "
        "medication -> its survivor's item), else medication_name matched like the drug master "
        "(pharmacy.match_name; WARN FREE_TEXT_REF), several or no items: item NULL with WARN AMBIGUOUS_REF / "
        "ORPHAN_FK (the line loads). dose, frequency, duration and instructions as text; a 'Frequency:' part "
        "of instructions fills or repeats frequency and moves there (contradicting: kept, WARN "
        "ENCODING_CONFLICT); 'Meal timing:' stays in instructions (no column). qty = quantity (> 0), status "
        "(map:prescription_items.status; unknown: NULL, WARN UNKNOWN_STATUS). medication_name, prices, the "
        "line's own dispensing counters and billing acknowledgements are kept in legacy_attributes; "
        "updated_at dropped.",
    ),
    TableSpec(
        "pharmacy", "dispenses",
        sources=(Source("prescription_dispensed_items"), Source("prescription_dispensed"),
                 Source("prescription_dispensing")),
        deps=("pharmacy.rx_lines", "pharmacy.batches", "pharmacy.items", "core.staff"),
        description="Grain: one row per dispensing of a prescription line from one batch: each "
        "prescription_dispensed_items row (the PDS items; its prescription_dispensed header, which gives the "
        "prescription, time and pharmacist, is MERGED into its first loading item, or quarantined "
        "ORPHAN_HEADER) and each prescription_dispensing row. Line: the legacy (prescription, medication) "
        "line, else the prescription's one line of the item (none: NULL, WARN ORPHAN_FK). Batch "
        "(pharmacy.batches through the medicine_batches provenance): by batch_id where that column exists, "
        "by batch number among the item's batches, by number alone when the item is unknown, or the item's "
        "only batch when none is named (WARN AMBIGUOUS_REF); otherwise quarantined (ORPHAN_FK, "
        "AMBIGUOUS_REF, MISSING_VALUE). qty = quantity_dispensed > 0 (0: ZERO_QTY, NULL: MISSING_VALUE, "
        "negative: OUT_OF_RANGE, quarantined). dispensed_by: the users id's staff member (unresolved: NULL, "
        "WARN ORPHAN_FK). Prices, the header's total/payment status/notes and prescription_dispensing's "
        "quantity_prescribed/status/notes are kept in legacy_attributes; patient_id dropped (the "
        "prescription's).",
    ),
]

defs = table_definitions(SPECS)
