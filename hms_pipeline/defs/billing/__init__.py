"""billing: the fee catalog, charges -> invoices -> payments (principle 5: the one billing pipe).

The legacy hospital bills three ways (billing + billing_item; pharmacy_bills / pharmacy_billing with
their items; billing_summary discharge headers) and copies its payments into a ledger. The rules
every billing table shares (amounts by "the amount column wins", the reason a whole bill cannot load,
the classification of each payment row) live once in ``sql/ddl/096_billing_helpers.sql``; the money
identities that block the phase are ``sql/billing/<table>.checks/*.sql``.
"""

from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import table_definitions

_BILL_LINES = (Source("billing_item"), Source("billing_items"), Source("pharmacy_bill_items"),
               Source("pharmacy_billing_items"), Source("billing_summary"))

SPECS = [
    TableSpec(
        "billing", "fee_schedules", sources=(Source("fee_rates"), Source("fee_categories")),
        deps=("core.departments", "ref.codes"),
        description="Grain: one row per billable fee. fee_rates: one fee per (category, service) "
        "(service_name -> name, category name -> category, department_id by the category's name; case copies "
        "MERGED, rule SAME_NAME; no name: quarantined MISSING_VALUE); code of its own CATEGORY.SERVICE. "
        "fee_categories: MERGED into the first fee of the category (its name is the fees' category); a "
        "category without fees is quarantined NO_FEES; description/is_active dropped (description is "
        "'<name> charges'). The live 6/14 rows are taken, not the DDL seed (Q35). Plus the fees the legacy "
        "data implies but never listed (ref.codes billing:derived_fee, 'DERIVED.' codes, category Derived): "
        "consultation, OP card, bed day per bed type, room charges, pharmacy item, lab test, other service.",
    ),
    TableSpec(
        "billing", "fee_rates", sources=(Source("fee_rates"),), deps=("billing.fee_schedules",), merges=False,
        description="Grain: one row per price of a fee over an effective-date range. fee_rates: one rate per "
        "row of the fee it became (rate_per_unit -> price; negative: NEGATIVE_AMOUNT, none: MISSING_VALUE; "
        "unit_type -> unit upper case, unknown: NULL with WARN UNMAPPED_VALUE); effective_from = local date "
        "created, effective_to = local date updated when is_active is false (else open); description and "
        "service_name dropped (the fee's name). Derived fees: one rate per price the legacy rows charged "
        "(patients.consultation_fee / op_card_amount, bed_allocations.daily_charges by bed type), effective "
        "from its first to its last date charged (the latest price open); per-line fees have no rate.",
    ),
    TableSpec(
        "billing", "charges",
        sources=(*_BILL_LINES,
                 Source("bed_allocations", consumes="s.total_charges is not null and s.total_charges <> 0"),
                 Source("patients", consumes="etl.billing_fee_text_says(s.consultation_fee) "
                                             "or etl.billing_fee_text_says(s.op_card_amount)")),
        deps=("billing.fee_schedules", "core.patients", "clinical.encounters", "inpatient.admissions",
              "inpatient.bed_allocations", "clinical.lab_orders", "pharmacy.rx_lines", "pharmacy.dispenses"),
        # the bill lines come from memo functions the planner cannot count (1,000 rows assumed, 283k at
        # 100k patients): it chose merge joins over external sorts; hash joins: 21 s -> 16 s there
        planner=(("enable_mergejoin", "off"),),
        description="Grain: one row per billable legacy line. One charge per bill line (billing_item, "
        "pharmacy_bill_items, pharmacy_billing_items; a billing_summary header is its own one line, Q34); "
        "billing_items copies MERGED (COPY). Bed charges stored on an allocation (total_charges / "
        "daily_charges -> qty days x unit) and the registration row's consultation fee and OP card amount "
        "(TEXT, etl.try_money) are charges of their own unless a bill carries them (MERGED, "
        "CARRIED_BY_BILL): never twice. qty/unit_price multiply to the line's amount column (Q15; else "
        "unit = amount/qty or qty 1, WARN ENCODING_CONFLICT). Quarantined with detail.amount: "
        "NEGATIVE_AMOUNT, ZERO_QTY, MISSING_VALUE, OUT_OF_RANGE, UNPARSEABLE_VALUE, ORPHAN_FK; a line of a "
        "bill that cannot load carries its bill's reason. fee: catalog fee by the item's name, else a "
        "derived fee. Links: admission of the bill's bed allocation, the bill's or admission's encounter, "
        "else the patient's encounter at the bill's time (WARN INFERRED_ENCOUNTER); counter sales have "
        "none. source_table/source_id: dispense or rx line, lab order, bed allocation/admission, encounter, "
        "else 'legacy.<table>' + the legacy id. Dropped: free-text description/medication_name (matching "
        "only), batch_id/batch_number/expiry_date (stock is pharmacy's; 'EXTERNAL' warns FREE_TEXT_REF), "
        "line_type_id (-> fee), discount_percentage of pharmacy lines (the bill's discount applies).",
    ),
    TableSpec(
        "billing", "invoices",
        sources=(Source("billing"), Source("pharmacy_bills"), Source("pharmacy_billing"), Source("billing_summary")),
        deps=("billing.charges", "core.patients", "clinical.encounters", "inpatient.admissions", "ref.codes"),
        merges=False,
        description="Grain: one row per legacy bill header (billing, pharmacy_bills, pharmacy_billing, "
        "billing_summary). patient_id (walk-in and staff self bills: NULL, buyer_type WALK_IN/STAFF_SELF; the "
        "buyer snapshot is not carried), encounter/admission, bill_type (map:billing.bill_type), invoice_no, "
        "discount_amount/tax_amount (the amount column wins, Q15). due_amount = loaded charges - discount + "
        "tax, paid_amount = the payments billing.payments loads: derived, never copied from the header; a "
        "disagreement is a WARN (ITEMS_TOTAL_MISMATCH, PAYMENT_MISMATCH, OVERPAYMENT, DERIVED_STATUS) with "
        "both figures kept in legacy_attributes; the unitemized part of a header subtotal is quarantined "
        "'<key>#unitemized' (ITEMS_TOTAL_MISMATCH, detail.amount). status: VOID (cancelled), DRAFT "
        "(discharge header without payments), PAID (payments cover the due), else ISSUED. Quarantined "
        "with the bill amount: FUTURE_DATE, NEGATIVE_AMOUNT, ORPHAN_FK (patient). Dropped: currency, "
        "status_id (dead ref_code), tax halves, percent columns, customer snapshots (PHI), staff/created_by, "
        "attachment/edit columns, advance_amount (an IP deposit), notes, balance_due/net_amount (derived).",
    ),
    TableSpec(
        "billing", "invoice_lines", sources=_BILL_LINES,
        deps=("billing.invoices", "billing.charges", "pharmacy.items"),
        description="Grain: one row per charge of a legacy bill line, on its bill's invoice (billing_items "
        "copies MERGED, COPY). amount = the charge's total; description = the drug master's item name for a "
        "stocked medicine, else the fee's name (' (external)' for an external item), never the legacy free "
        "text. A line whose invoice or charge did not load is quarantined ORPHAN_FK (its money is counted "
        "where that was quarantined). Un-billed charges (bed days, registration fees) are not invoiced.",
    ),
    TableSpec(
        "billing", "payments",
        sources=(Source("billing_payments"), Source("payment_ledger"), Source("payment_history"),
                 Source("pharmacy_bills", consumes="s.paid_amount <> 0"),
                 Source("pharmacy_billing", consumes="etl.norm_key(s.payment_status) in ('paid', 'completed') "
                                                     "and s.total_amount <> 0")),
        deps=("billing.invoices", "ref.codes"),
        description="Grain: one row per payment received against an invoice. billing_payments: one per row "
        "(method its own, map:billing.payment_method; a 'split' bill's methods are its rows'); quarantined "
        "with detail.amount: 'credit' NOT_A_PAYMENT (an amount on account), negative refunds NEGATIVE_AMOUNT, "
        "ZERO_AMOUNT, MISSING_VALUE, ORPHAN_FK (no bill), the bill's own reason. The ledger (payment_ledger; "
        "payment_history where a table) copies billing_payments: a copy is MERGED into the payment it copies "
        "(COPY; of a quarantined row: DUPLICATE), never counted twice; rows of sources outside the fixture "
        "are quarantined ORPHAN_FK with amount and source_type; a ledger row naming a bill that copies "
        "nothing loads (WARN LEDGER_ONLY). pharmacy_bills/pharmacy_billing: the header's payment "
        "('<id>#payment'). received_at = paid_at, ref_no = reference; received_by/created_by (auth users), "
        "receipt_number, tax halves and notes dropped.",
    ),
]

defs = table_definitions(SPECS)
