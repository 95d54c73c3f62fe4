-- inpatient: wards, beds, admissions, bed allocations.
-- Conventions: see 020_core.sql.

-- Grain: one row per ward of a facility.
create table if not exists inpatient.wards (
    ward_id uuid primary key default gen_random_uuid(),
    department_id uuid references core.departments (department_id),
    facility_id uuid references core.facilities (facility_id),
    name text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_wards_department_id on inpatient.wards (department_id);
create index if not exists idx_wards_facility_id on inpatient.wards (facility_id);
create or replace trigger trg_set_updated_at
    before update on inpatient.wards
    for each row execute function ops.set_updated_at();

-- Grain: one row per physical bed in a ward.
create table if not exists inpatient.beds (
    bed_id uuid primary key default gen_random_uuid(),
    ward_id uuid references inpatient.wards (ward_id),
    label text,
    type text,
    status text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_beds_ward_id on inpatient.beds (ward_id);
create or replace trigger trg_set_updated_at
    before update on inpatient.beds
    for each row execute function ops.set_updated_at();

-- Grain: one row per inpatient admission (at most one per encounter).
create table if not exists inpatient.admissions (
    admission_id uuid primary key default gen_random_uuid(),
    encounter_id uuid unique references clinical.encounters (encounter_id),
    admit_at timestamptz,
    discharge_at timestamptz,
    reason text,
    facility_id uuid references core.facilities (facility_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
-- encounter_id: indexed by its UNIQUE constraint.
create index if not exists idx_admissions_facility_id on inpatient.admissions (facility_id);
create or replace trigger trg_set_updated_at
    before update on inpatient.admissions
    for each row execute function ops.set_updated_at();

-- Grain: one row per stay of an admission in a bed (end_at null = current bed).
create table if not exists inpatient.bed_allocations (
    allocation_id uuid primary key default gen_random_uuid(),
    admission_id uuid references inpatient.admissions (admission_id),
    bed_id uuid references inpatient.beds (bed_id),
    start_at timestamptz,
    end_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
-- Blueprint representative index: beds currently occupied.
create index if not exists idx_bed_alloc_active
    on inpatient.bed_allocations (bed_id)
    where end_at is null;
create index if not exists idx_bed_allocations_admission_id on inpatient.bed_allocations (admission_id);
-- FK index (the partial one above cannot serve FK checks on inpatient.beds).
create index if not exists idx_bed_allocations_bed_id on inpatient.bed_allocations (bed_id);
create or replace trigger trg_set_updated_at
    before update on inpatient.bed_allocations
    for each row execute function ops.set_updated_at();
