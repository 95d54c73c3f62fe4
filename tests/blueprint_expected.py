"""The canonical catalog the DDL must produce, written by hand from /work/shared/blueprint.txt.

Kept as plain data (not derived from the DDL) so the catalog tests compare two independent
readings of the blueprint. Column specs are ``"<format_type> [not null]"``; untyped blueprint
columns are ``text``. Nullability: NOT NULL only where the blueprint says so, on primary keys and on
the principle-6 created_at/updated_at.
"""

from __future__ import annotations

TSTZ = "timestamp with time zone"

SCHEMAS = ("core", "clinical", "inpatient", "pharmacy", "billing", "ops", "ref", "view")

# Principle 6, added to every table except the exempt ones.
PRINCIPLE6 = {
    "created_at": f"{TSTZ} not null",
    "updated_at": f"{TSTZ} not null",
    "created_by": "text",
    "updated_by": "text",
    "deleted_at": TSTZ,
}
# audit_log/codes: blueprint exemptions; legacy_id_map/quarantine: must have exactly their columns.
PRINCIPLE6_EXEMPT = {"ops.audit_log", "ref.codes", "ops.legacy_id_map", "ops.quarantine", "ops.legacy_kept"}

BLUEPRINT_COLUMNS: dict[str, dict[str, str]] = {
    # core
    "core.users": {"user_id": "uuid not null", "email": "text not null", "person_id": "uuid"},
    "core.persons": {
        "person_id": "uuid not null", "first_name": "text", "last_name": "text", "dob": "date",
        "sex": "text", "phone": "text", "email": "text", "address": "jsonb",
    },
    "core.patients": {"patient_id": "uuid not null", "person_id": "uuid not null", "uhid": "text not null"},
    "core.staff": {
        "staff_id": "uuid not null", "person_id": "uuid not null", "department_id": "uuid",
        "role_id": "uuid", "license_no": "text", "active_from": TSTZ, "active_to": TSTZ,
    },
    "core.staff_roles": {"role_id": "uuid not null", "name": "text not null", "scope": "text"},
    "core.departments": {
        "department_id": "uuid not null", "facility_id": "uuid", "name": "text", "type": "text",
    },
    "core.facilities": {"facility_id": "uuid not null", "name": "text not null", "timezone": "text not null"},
    "core.staff_schedules": {
        "schedule_id": "uuid not null", "staff_id": "uuid", "starts_at": TSTZ, "ends_at": TSTZ,
        "pattern": "text",
    },
    # clinical
    "clinical.appointments": {
        "appointment_id": "uuid not null", "patient_id": "uuid", "doctor_id": "uuid",
        "facility_id": "uuid", "scheduled_at": TSTZ, "status": "text",
    },
    "clinical.encounters": {
        "encounter_id": "uuid not null", "patient_id": "uuid", "type": "text",
        "start_at": f"{TSTZ} not null", "end_at": TSTZ, "attending_doctor_id": "uuid", "facility_id": "uuid",
    },
    "clinical.vitals": {
        "vital_id": "uuid not null", "encounter_id": "uuid", "taken_at": f"{TSTZ} not null",
        "kind": "text", "value": "numeric", "unit": "text",
    },
    "clinical.allergies": {
        "allergy_id": "uuid not null", "patient_id": "uuid", "code": "text", "description": "text",
        "onset_date": "date", "status": "text",
    },
    "clinical.symptoms": {
        "symptom_id": "uuid not null", "encounter_id": "uuid", "code": "text", "description": "text",
        "severity": "text",
    },
    "clinical.medical_history": {
        "history_id": "uuid not null", "patient_id": "uuid", "code": "text", "description": "text",
        "recorded_at": TSTZ,
    },
    "clinical.lab_tests": {
        "test_id": "uuid not null", "code": "text", "name": "text", "specimen_type": "text",
    },
    "clinical.lab_orders": {
        "order_id": "uuid not null", "encounter_id": "uuid", "ordered_by": "uuid",
        "ordered_at": f"{TSTZ} not null",
    },
    "clinical.lab_order_items": {
        "order_item_id": "uuid not null", "order_id": "uuid", "test_id": "uuid", "status": "text",
    },
    "clinical.lab_results": {
        "result_id": "uuid not null", "order_item_id": "uuid", "value": "text", "unit": "text",
        "ref_range": "text", "result_at": TSTZ, "status": "text",
    },
    # inpatient
    "inpatient.admissions": {
        "admission_id": "uuid not null", "encounter_id": "uuid", "admit_at": TSTZ, "discharge_at": TSTZ,
        "reason": "text", "facility_id": "uuid",
    },
    "inpatient.wards": {
        "ward_id": "uuid not null", "department_id": "uuid", "facility_id": "uuid", "name": "text",
    },
    "inpatient.beds": {
        "bed_id": "uuid not null", "ward_id": "uuid", "label": "text", "type": "text", "status": "text",
    },
    "inpatient.bed_allocations": {
        "allocation_id": "uuid not null", "admission_id": "uuid", "bed_id": "uuid", "start_at": TSTZ,
        "end_at": TSTZ,
    },
    # pharmacy
    "pharmacy.items": {
        "item_id": "uuid not null", "code": "text", "name": "text not null", "form": "text",
        "strength": "text", "route": "text", "is_active": "boolean",
        # beyond the blueprint's key columns: the legacy drug master's attributes the new system
        # needs, and the rest kept for the compatibility layer (050_pharmacy.sql)
        "manufacturer": "text", "generic_name": "text", "hsn_code": "text", "gst_rate": "numeric(5,2)",
        "is_external": "boolean", "legacy_attributes": "jsonb",
    },
    "pharmacy.batches": {
        "batch_id": "uuid not null", "item_id": "uuid", "batch_no": "text", "expiry": "date",
        "initial_qty": "numeric(12,3)",
        # beyond the blueprint's key columns: receipt, unit and pack size (packs vs units, Q9), the
        # rest kept for the compatibility layer (050_pharmacy.sql)
        "received_on": "date", "unit": "text", "pack_size": "integer", "legacy_attributes": "jsonb",
    },
    "pharmacy.inventory_txns": {
        "txn_id": "uuid not null", "item_id": "uuid", "batch_id": "uuid", "facility_id": "uuid",
        "txn_type": "text", "qty": "numeric(12,3)", "unit": "text", "ref_table": "text", "ref_id": "uuid",
        "occurred_at": TSTZ,
        "legacy_attributes": "jsonb",  # beyond the blueprint, as above
    },
    "pharmacy.prescriptions": {
        "rx_id": "uuid not null", "encounter_id": "uuid", "prescribed_by": "uuid",
        "prescribed_at": f"{TSTZ} not null",
        # beyond the blueprint's key columns: what the legacy prescription holds and the new system
        # needs, and the rest kept for the compatibility layer (050_pharmacy.sql)
        "rx_number": "text", "status": "text", "instructions": "text", "diagnosis": "text", "notes": "text",
        "legacy_attributes": "jsonb",
    },
    "pharmacy.rx_lines": {
        "rx_line_id": "uuid not null", "rx_id": "uuid", "item_id": "uuid", "dose": "text",
        "frequency": "text", "duration": "text", "route": "text", "instructions": "text",
        "qty": "numeric(12,3)", "status": "text", "legacy_attributes": "jsonb",  # beyond the blueprint, as above
    },
    "pharmacy.dispenses": {
        "dispense_id": "uuid not null", "rx_line_id": "uuid", "batch_id": "uuid", "qty": "numeric(12,3)",
        "dispensed_at": TSTZ, "dispensed_by": "uuid",
        "legacy_attributes": "jsonb",  # beyond the blueprint, as above
    },
    # billing
    "billing.fee_schedules": {
        "fee_id": "uuid not null", "department_id": "uuid", "code": "text", "name": "text not null",
        "category": "text",
    },
    "billing.fee_rates": {
        "rate_id": "uuid not null", "fee_id": "uuid", "unit": "text", "price": "numeric(12,2)",
        "effective_from": "date", "effective_to": "date",
    },
    "billing.charges": {
        "charge_id": "uuid not null", "encounter_id": "uuid", "admission_id": "uuid", "fee_id": "uuid",
        "qty": "numeric(12,3)", "unit_price": "numeric(12,2)", "total": "numeric(14,2)",
        "source_table": "text not null", "source_id": "uuid not null",
    },
    "billing.invoices": {
        "invoice_id": "uuid not null", "patient_id": "uuid", "encounter_id": "uuid", "admission_id": "uuid",
        "status": "text", "issued_at": TSTZ, "due_amount": "numeric(14,2)", "paid_amount": "numeric(14,2)",
        "invoice_no": "text", "bill_type": "text", "buyer_type": "text", "discount_amount": "numeric(14,2)",
        "tax_amount": "numeric(14,2)", "legacy_attributes": "jsonb",
    },
    "billing.invoice_lines": {
        "line_id": "uuid not null", "invoice_id": "uuid", "charge_id": "uuid", "description": "text",
        "amount": "numeric(14,2)",
    },
    "billing.payments": {
        "payment_id": "uuid not null", "invoice_id": "uuid", "method": "text", "amount": "numeric(14,2)",
        "received_at": TSTZ, "ref_no": "text",
    },
    # ops / ref
    "ops.audit_log": {
        "audit_id": "bigint not null", "at": TSTZ, "actor_user_id": "uuid", "action": "text",
        "table_name": "text", "pk": "jsonb", "before": "jsonb", "after": "jsonb",
    },
    "ops.attachments": {
        "attachment_id": "uuid not null", "owner_table": "text", "owner_id": "uuid", "url": "text",
        "mime": "text", "uploaded_by": "uuid", "uploaded_at": TSTZ,
    },
    "ref.codes": {"code": "text not null", "system": "text not null", "display": "text"},
    # provenance (the exact column lists)
    "ops.legacy_id_map": {
        "legacy_table": "text not null", "legacy_key": "text not null", "canonical_table": "text not null",
        "canonical_id": "uuid not null", "disposition": "text not null", "run_id": "text not null",
        "mapped_at": f"{TSTZ} not null",
    },
    "ops.quarantine": {
        "legacy_table": "text not null", "legacy_key": "text not null", "target_table": "text not null",
        "reason_code": "text not null", "detail": "jsonb not null", "run_id": "text not null",
        "first_seen_at": f"{TSTZ} not null", "last_seen_at": f"{TSTZ} not null", "resolved_at": TSTZ,
    },
    # the kept store of the compatibility layer (issue #13): an extension store beside provenance
    "ops.legacy_kept": {
        "legacy_table": "text not null", "legacy_key": "text not null", "attrs": "jsonb not null",
        "updated_at": f"{TSTZ} not null",
    },
}

COLUMNS: dict[str, dict[str, str]] = {
    table: cols if table in PRINCIPLE6_EXEMPT else {**cols, **PRINCIPLE6}
    for table, cols in BLUEPRINT_COLUMNS.items()
}

# The blueprint lists each table's single-column PK first; ref.codes has (code, system); the
# provenance tables have no PK (their UNIQUE is the key).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    table: (next(iter(cols)),)
    for table, cols in BLUEPRINT_COLUMNS.items()
    if table not in ("ref.codes", "ops.legacy_id_map", "ops.quarantine", "ops.legacy_kept")
} | {"ref.codes": ("code", "system"), "ops.legacy_kept": ("legacy_table", "legacy_key")}

UNIQUES: set[tuple[str, tuple[str, ...]]] = {
    ("core.users", ("email",)),
    ("core.patients", ("person_id",)),
    ("core.patients", ("uhid",)),
    ("core.staff", ("person_id",)),
    ("core.staff_roles", ("name",)),
    ("core.facilities", ("name",)),
    ("clinical.lab_tests", ("code",)),
    ("inpatient.admissions", ("encounter_id",)),
    ("pharmacy.items", ("code",)),
    ("billing.fee_schedules", ("code",)),
    ("ops.legacy_id_map", ("legacy_table", "legacy_key", "canonical_table")),
    ("ops.quarantine", ("legacy_table", "legacy_key", "target_table", "reason_code")),
}

# (table, column) -> "schema.table.column" it references.
FOREIGN_KEYS: dict[tuple[str, str], str] = {
    ("core.users", "person_id"): "core.persons.person_id",
    ("core.patients", "person_id"): "core.persons.person_id",
    ("core.staff", "person_id"): "core.persons.person_id",
    ("core.staff", "department_id"): "core.departments.department_id",
    ("core.staff", "role_id"): "core.staff_roles.role_id",
    ("core.departments", "facility_id"): "core.facilities.facility_id",
    ("core.staff_schedules", "staff_id"): "core.staff.staff_id",
    ("clinical.appointments", "patient_id"): "core.patients.patient_id",
    ("clinical.appointments", "doctor_id"): "core.staff.staff_id",
    ("clinical.appointments", "facility_id"): "core.facilities.facility_id",
    ("clinical.encounters", "patient_id"): "core.patients.patient_id",
    ("clinical.encounters", "attending_doctor_id"): "core.staff.staff_id",
    ("clinical.encounters", "facility_id"): "core.facilities.facility_id",
    ("clinical.vitals", "encounter_id"): "clinical.encounters.encounter_id",
    ("clinical.allergies", "patient_id"): "core.patients.patient_id",
    ("clinical.symptoms", "encounter_id"): "clinical.encounters.encounter_id",
    ("clinical.medical_history", "patient_id"): "core.patients.patient_id",
    ("clinical.lab_orders", "encounter_id"): "clinical.encounters.encounter_id",
    ("clinical.lab_orders", "ordered_by"): "core.staff.staff_id",
    ("clinical.lab_order_items", "order_id"): "clinical.lab_orders.order_id",
    ("clinical.lab_order_items", "test_id"): "clinical.lab_tests.test_id",
    ("clinical.lab_results", "order_item_id"): "clinical.lab_order_items.order_item_id",
    ("inpatient.admissions", "encounter_id"): "clinical.encounters.encounter_id",
    ("inpatient.admissions", "facility_id"): "core.facilities.facility_id",
    ("inpatient.wards", "department_id"): "core.departments.department_id",
    ("inpatient.wards", "facility_id"): "core.facilities.facility_id",
    ("inpatient.beds", "ward_id"): "inpatient.wards.ward_id",
    ("inpatient.bed_allocations", "admission_id"): "inpatient.admissions.admission_id",
    ("inpatient.bed_allocations", "bed_id"): "inpatient.beds.bed_id",
    ("pharmacy.batches", "item_id"): "pharmacy.items.item_id",
    ("pharmacy.inventory_txns", "item_id"): "pharmacy.items.item_id",
    ("pharmacy.inventory_txns", "batch_id"): "pharmacy.batches.batch_id",
    ("pharmacy.inventory_txns", "facility_id"): "core.facilities.facility_id",
    ("pharmacy.prescriptions", "encounter_id"): "clinical.encounters.encounter_id",
    ("pharmacy.prescriptions", "prescribed_by"): "core.staff.staff_id",
    ("pharmacy.rx_lines", "rx_id"): "pharmacy.prescriptions.rx_id",
    ("pharmacy.rx_lines", "item_id"): "pharmacy.items.item_id",
    ("pharmacy.dispenses", "rx_line_id"): "pharmacy.rx_lines.rx_line_id",
    ("pharmacy.dispenses", "batch_id"): "pharmacy.batches.batch_id",
    ("pharmacy.dispenses", "dispensed_by"): "core.staff.staff_id",
    ("billing.fee_schedules", "department_id"): "core.departments.department_id",
    ("billing.fee_rates", "fee_id"): "billing.fee_schedules.fee_id",
    ("billing.charges", "encounter_id"): "clinical.encounters.encounter_id",
    ("billing.charges", "admission_id"): "inpatient.admissions.admission_id",
    ("billing.charges", "fee_id"): "billing.fee_schedules.fee_id",
    ("billing.invoices", "patient_id"): "core.patients.patient_id",
    ("billing.invoices", "encounter_id"): "clinical.encounters.encounter_id",
    ("billing.invoices", "admission_id"): "inpatient.admissions.admission_id",
    ("billing.invoice_lines", "invoice_id"): "billing.invoices.invoice_id",
    ("billing.invoice_lines", "charge_id"): "billing.charges.charge_id",
    ("billing.payments", "invoice_id"): "billing.invoices.invoice_id",
}

# (table, column) -> allowed values (a set) or a comparison written "col<op>value".
# pharmacy.batches.expiry is deliberately absent: that rule is a BEFORE INSERT trigger.
CHECKS: dict[tuple[str, str], set[str] | str] = {
    ("core.departments", "type"): {"OPD", "WARD", "ER", "LAB", "PHARMACY", "ADMIN"},
    ("clinical.appointments", "status"): {"BOOKED", "CANCELLED", "NO_SHOW", "DONE"},
    ("clinical.encounters", "type"): {"OPD", "ER", "IPD"},
    ("clinical.lab_order_items", "status"): {"ORDERED", "COLLECTED", "PROCESSING", "RESULTED", "CANCELLED"},
    ("pharmacy.inventory_txns", "txn_type"): {"GRN", "ADJUST", "ISSUE", "DISPENSE", "RETURN"},
    ("pharmacy.inventory_txns", "qty"): "qty<>0",
    ("pharmacy.batches", "unit"): {"unit", "pack"},
    ("pharmacy.batches", "pack_size"): "pack_size>0",
    ("pharmacy.dispenses", "qty"): "qty>0",
    ("pharmacy.prescriptions", "status"): {"ACTIVE", "PARTIAL", "DISPENSED", "COMPLETED", "CANCELLED"},
    ("pharmacy.rx_lines", "status"): {"PENDING", "PARTIAL", "DISPENSED", "CANCELLED"},
    ("billing.charges", "qty"): "qty>0",
    ("billing.charges", "unit_price"): "unit_price>=0",
    ("billing.invoices", "status"): {"DRAFT", "ISSUED", "PAID", "VOID"},
    ("billing.invoices", "bill_type"): {"OP", "PHARMACY", "LAB", "RADIOLOGY", "IP", "DISCHARGE", "OTHER"},
    ("billing.invoices", "buyer_type"): {"PATIENT", "WALK_IN", "STAFF_SELF"},
    ("billing.payments", "amount"): "amount>0",
    ("ops.legacy_id_map", "disposition"): {"LOADED", "MERGED"},
}

# (table, column) -> default expression as pg_get_expr prints it (blueprint-declared ones).
DEFAULTS: dict[tuple[str, str], str] = {
    ("pharmacy.items", "is_active"): "true",
    ("pharmacy.inventory_txns", "occurred_at"): "now()",
    ("billing.invoices", "due_amount"): "0",
    ("billing.invoices", "paid_amount"): "0",
    ("ops.audit_log", "at"): "now()",
    ("ops.attachments", "uploaded_at"): "now()",
}

# (table, column) -> expression of a STORED generated column.
GENERATED: dict[tuple[str, str], str] = {
    ("billing.charges", "total"): "(qty * unit_price)",
}

# Blueprint "Indexes (Representative)": name -> (table, key columns as printed, WHERE or None).
NAMED_INDEXES: dict[str, tuple[str, str, str | None]] = {
    "idx_encounters_patient_active": ("clinical.encounters", "(patient_id)", "(end_at IS NULL)"),
    "idx_bed_alloc_active": ("inpatient.bed_allocations", "(bed_id)", "(end_at IS NULL)"),
    "idx_inv_item_time": ("pharmacy.inventory_txns", "(item_id, occurred_at DESC)", None),
    "idx_charges_context": ("billing.charges", "(encounter_id, admission_id)", None),
}

# name -> relkind ('v' view, 'm' materialized view).
VIEWS: dict[str, str] = {
    "view.active_admissions": "v",
    "view.billing_summary": "v",
    "view.stock_on_hand": "m",
}
