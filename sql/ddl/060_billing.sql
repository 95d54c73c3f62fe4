-- billing: fee catalog, charges -> invoices -> payments (principle 5: the one billing pipe;
-- pharmacy and lab feed charges, never their own invoices).
-- Conventions: see 020_core.sql.

-- Grain: one row per billable fee in the catalog.
create table if not exists billing.fee_schedules (
    fee_id uuid primary key default gen_random_uuid(),
    department_id uuid references core.departments (department_id),
    code text unique,
    name text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_fee_schedules_department_id on billing.fee_schedules (department_id);
create or replace trigger trg_set_updated_at
    before update on billing.fee_schedules
    for each row execute function ops.set_updated_at();

-- Grain: one row per price of a fee over an effective-date range.
create table if not exists billing.fee_rates (
    rate_id uuid primary key default gen_random_uuid(),
    fee_id uuid references billing.fee_schedules (fee_id),
    unit text,
    price numeric(12,2),
    effective_from date,
    effective_to date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_fee_rates_fee_id on billing.fee_rates (fee_id);
create or replace trigger trg_set_updated_at
    before update on billing.fee_rates
    for each row execute function ops.set_updated_at();

-- Grain: one row per billable event (a fee applied in an encounter and/or admission), fed by the
-- domain row named in source_table/source_id. total is derived, never written.
create table if not exists billing.charges (
    charge_id uuid primary key default gen_random_uuid(),
    encounter_id uuid references clinical.encounters (encounter_id),
    admission_id uuid references inpatient.admissions (admission_id),
    fee_id uuid references billing.fee_schedules (fee_id),
    qty numeric(12,3) check (qty > 0),
    unit_price numeric(12,2) check (unit_price >= 0),
    total numeric(14,2) generated always as (qty * unit_price) stored,
    source_table text not null,
    source_id uuid not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
-- Blueprint representative index; also serves as the encounter_id FK index.
create index if not exists idx_charges_context on billing.charges (encounter_id, admission_id);
create index if not exists idx_charges_admission_id on billing.charges (admission_id);
create index if not exists idx_charges_fee_id on billing.charges (fee_id);
-- 'total' is generated: NULL in NEW during BEFORE triggers, so it is excluded from the comparison.
create or replace trigger trg_set_updated_at
    before update on billing.charges
    for each row execute function ops.set_updated_at('total');

-- Grain: one row per invoice issued to a patient (for an encounter and/or admission).
create table if not exists billing.invoices (
    invoice_id uuid primary key default gen_random_uuid(),
    patient_id uuid references core.patients (patient_id),
    encounter_id uuid references clinical.encounters (encounter_id),
    admission_id uuid references inpatient.admissions (admission_id),
    status text check (status in ('DRAFT', 'ISSUED', 'PAID', 'VOID')),
    issued_at timestamptz,
    due_amount numeric(14,2) default 0,
    paid_amount numeric(14,2) default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_invoices_patient_id on billing.invoices (patient_id);
create index if not exists idx_invoices_encounter_id on billing.invoices (encounter_id);
create index if not exists idx_invoices_admission_id on billing.invoices (admission_id);
create or replace trigger trg_set_updated_at
    before update on billing.invoices
    for each row execute function ops.set_updated_at();

-- Grain: one row per line of an invoice (usually one charge).
create table if not exists billing.invoice_lines (
    line_id uuid primary key default gen_random_uuid(),
    invoice_id uuid references billing.invoices (invoice_id),
    charge_id uuid references billing.charges (charge_id),
    description text,
    amount numeric(14,2),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_invoice_lines_invoice_id on billing.invoice_lines (invoice_id);
create index if not exists idx_invoice_lines_charge_id on billing.invoice_lines (charge_id);
create or replace trigger trg_set_updated_at
    before update on billing.invoice_lines
    for each row execute function ops.set_updated_at();

-- Grain: one row per payment received against an invoice.
create table if not exists billing.payments (
    payment_id uuid primary key default gen_random_uuid(),
    invoice_id uuid references billing.invoices (invoice_id),
    method text,
    amount numeric(14,2) check (amount > 0),
    received_at timestamptz,
    ref_no text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_payments_invoice_id on billing.payments (invoice_id);
create or replace trigger trg_set_updated_at
    before update on billing.payments
    for each row execute function ops.set_updated_at();

-- Columns the migration needs beyond the blueprint (issue #12; ADD COLUMN IF NOT EXISTS, so a
-- database created before them gets them). Totals stay derived: charges.total is generated; an
-- invoice's due_amount is its lines' sum - discount_amount + tax_amount (sql/billing/invoices.sql,
-- checked by sql/billing/invoice_lines.checks/due_per_invoice.sql).
--   fee_schedules.category   the legacy fee category (fee_categories.name) or 'Derived' for the fees
--                            the legacy data implies but never listed (sql/ref/codes.d/billing.sql);
--   invoices.invoice_no      the legacy bill number (billing.bill_number/bill_no, pharmacy_bills /
--                            pharmacy_billing / billing_summary bill_number) for cross-reference;
--   invoices.bill_type       OP, PHARMACY, LAB, RADIOLOGY, IP, DISCHARGE, OTHER (ref.codes
--                            map:billing.bill_type; the legacy bill_type is free text, Q12);
--   invoices.buyer_type      PATIENT, WALK_IN (counter sale without a registered patient: patient_id
--                            NULL, the buyer snapshot is not carried) or STAFF_SELF (a staff/doctor
--                            self bill, Q16);
--   invoices.discount_amount / tax_amount  the bill-level discount and tax, by the contract's rule
--                            "the amount column wins" (Q15), applied once on the header;
--   invoices.legacy_attributes  what the legacy header claimed, for the reviewer and the
--                            compatibility layer: its subtotal, total, amount paid, status, payment
--                            method and bill type as written, the lines' sum, the unitemized amount,
--                            and the warnings of the migration (both figures of every disagreement).
alter table billing.fee_schedules add column if not exists category text;
alter table billing.invoices add column if not exists invoice_no text;
alter table billing.invoices add column if not exists bill_type text
    check (bill_type in ('OP', 'PHARMACY', 'LAB', 'RADIOLOGY', 'IP', 'DISCHARGE', 'OTHER'));
alter table billing.invoices add column if not exists buyer_type text
    check (buyer_type in ('PATIENT', 'WALK_IN', 'STAFF_SELF'));
alter table billing.invoices add column if not exists discount_amount numeric(14,2) default 0;
alter table billing.invoices add column if not exists tax_amount numeric(14,2) default 0;
alter table billing.invoices add column if not exists legacy_attributes jsonb;

comment on column billing.invoices.buyer_type is
    'PATIENT (patient_id set), WALK_IN (counter sale, patient_id NULL) or STAFF_SELF (staff/doctor self bill, patient_id NULL)';
comment on column billing.invoices.due_amount is
    'Sum of the invoice lines - discount_amount + tax_amount (derived from the lines, never copied from a legacy header)';
comment on column billing.invoices.paid_amount is
    'Sum of the payments received (billing.payments), never copied from a legacy header';
