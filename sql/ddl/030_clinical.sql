-- clinical: appointments, encounters (the backbone, principle 3), vitals, history, lab orders.
-- Conventions: see 020_core.sql.

-- Grain: one row per booked appointment slot.
create table if not exists clinical.appointments (
    appointment_id uuid primary key default gen_random_uuid(),
    patient_id uuid references core.patients (patient_id),
    doctor_id uuid references core.staff (staff_id),
    facility_id uuid references core.facilities (facility_id),
    scheduled_at timestamptz,
    status text check (status in ('BOOKED', 'CANCELLED', 'NO_SHOW', 'DONE')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_appointments_patient_id on clinical.appointments (patient_id);
create index if not exists idx_appointments_doctor_id on clinical.appointments (doctor_id);
create index if not exists idx_appointments_facility_id on clinical.appointments (facility_id);
create or replace trigger trg_set_updated_at
    before update on clinical.appointments
    for each row execute function ops.set_updated_at();

-- Grain: one row per patient encounter (OPD visit, ER visit or inpatient stay).
create table if not exists clinical.encounters (
    encounter_id uuid primary key default gen_random_uuid(),
    patient_id uuid references core.patients (patient_id),
    type text check (type in ('OPD', 'ER', 'IPD')),
    start_at timestamptz not null,
    end_at timestamptz,
    attending_doctor_id uuid references core.staff (staff_id),
    facility_id uuid references core.facilities (facility_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
-- Blueprint representative index: open encounters of a patient.
create index if not exists idx_encounters_patient_active
    on clinical.encounters (patient_id)
    where end_at is null;
-- FK index (the partial one above cannot serve FK checks on core.patients).
create index if not exists idx_encounters_patient_id on clinical.encounters (patient_id);
create index if not exists idx_encounters_attending_doctor_id on clinical.encounters (attending_doctor_id);
create index if not exists idx_encounters_facility_id on clinical.encounters (facility_id);
create or replace trigger trg_set_updated_at
    before update on clinical.encounters
    for each row execute function ops.set_updated_at();

-- Grain: one row per vital-sign measurement taken during an encounter.
create table if not exists clinical.vitals (
    vital_id uuid primary key default gen_random_uuid(),
    encounter_id uuid references clinical.encounters (encounter_id),
    taken_at timestamptz not null,
    kind text,
    value numeric,
    unit text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_vitals_encounter_id on clinical.vitals (encounter_id);
create or replace trigger trg_set_updated_at
    before update on clinical.vitals
    for each row execute function ops.set_updated_at();

-- Grain: one row per recorded allergy of a patient.
create table if not exists clinical.allergies (
    allergy_id uuid primary key default gen_random_uuid(),
    patient_id uuid references core.patients (patient_id),
    code text,
    description text,
    onset_date date,
    status text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_allergies_patient_id on clinical.allergies (patient_id);
create or replace trigger trg_set_updated_at
    before update on clinical.allergies
    for each row execute function ops.set_updated_at();

-- Grain: one row per symptom noted during an encounter.
create table if not exists clinical.symptoms (
    symptom_id uuid primary key default gen_random_uuid(),
    encounter_id uuid references clinical.encounters (encounter_id),
    code text,
    description text,
    severity text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_symptoms_encounter_id on clinical.symptoms (encounter_id);
create or replace trigger trg_set_updated_at
    before update on clinical.symptoms
    for each row execute function ops.set_updated_at();

-- Grain: one row per medical-history entry of a patient.
create table if not exists clinical.medical_history (
    history_id uuid primary key default gen_random_uuid(),
    patient_id uuid references core.patients (patient_id),
    code text,
    description text,
    recorded_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_medical_history_patient_id on clinical.medical_history (patient_id);
create or replace trigger trg_set_updated_at
    before update on clinical.medical_history
    for each row execute function ops.set_updated_at();

-- Grain: one row per orderable lab test in the catalog.
create table if not exists clinical.lab_tests (
    test_id uuid primary key default gen_random_uuid(),
    code text unique,
    name text,
    specimen_type text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on clinical.lab_tests
    for each row execute function ops.set_updated_at();

-- Grain: one row per lab order placed during an encounter.
create table if not exists clinical.lab_orders (
    order_id uuid primary key default gen_random_uuid(),
    encounter_id uuid references clinical.encounters (encounter_id),
    ordered_by uuid references core.staff (staff_id),
    ordered_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_lab_orders_encounter_id on clinical.lab_orders (encounter_id);
create index if not exists idx_lab_orders_ordered_by on clinical.lab_orders (ordered_by);
create or replace trigger trg_set_updated_at
    before update on clinical.lab_orders
    for each row execute function ops.set_updated_at();

-- Grain: one row per test requested on a lab order.
create table if not exists clinical.lab_order_items (
    order_item_id uuid primary key default gen_random_uuid(),
    order_id uuid references clinical.lab_orders (order_id),
    test_id uuid references clinical.lab_tests (test_id),
    status text check (status in ('ORDERED', 'COLLECTED', 'PROCESSING', 'RESULTED', 'CANCELLED')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_lab_order_items_order_id on clinical.lab_order_items (order_id);
create index if not exists idx_lab_order_items_test_id on clinical.lab_order_items (test_id);
create or replace trigger trg_set_updated_at
    before update on clinical.lab_order_items
    for each row execute function ops.set_updated_at();

-- Grain: one row per result reported for a lab order item.
create table if not exists clinical.lab_results (
    result_id uuid primary key default gen_random_uuid(),
    order_item_id uuid references clinical.lab_order_items (order_item_id),
    value text,
    unit text,
    ref_range text,
    result_at timestamptz,
    status text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_lab_results_order_item_id on clinical.lab_results (order_item_id);
create or replace trigger trg_set_updated_at
    before update on clinical.lab_results
    for each row execute function ops.set_updated_at();
