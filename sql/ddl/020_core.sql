-- core: people, organisation, schedules.
--
-- Conventions for every table file (020-070):
--   * Primary keys are uuid with default gen_random_uuid() (built in since PG13; no extension).
--   * Columns the blueprint leaves untyped (first_name, phone, ...) are text.
--   * Nullability follows the blueprint's column declarations: NOT NULL only where it says so,
--     on primary keys, and on created_at/updated_at (principle 6). The Data Quality line "use NOT
--     NULL and CHECK on status/type enums" is applied as CHECK only: the per-table declarations
--     list the vocabularies without NOT NULL, and legacy rows with an unknown status must still
--     load (or be quarantined by the transforms, which decide), not abort the backfill. A CHECK
--     accepts NULL, so these columns are nullable.
--   * Principle 6 columns (created_at, updated_at, created_by, updated_by, deleted_at) on every
--     table except ops.audit_log, ref.codes and the provenance tables; ops.set_updated_at() is
--     attached to each of them as trg_set_updated_at.
--   * Foreign keys are NO ACTION (rows are soft-deleted, never cascaded). Every FK column has an
--     index leading with it unless a PK/UNIQUE already leads with it; the blueprint's partial
--     indexes do not count (an FK check must see every row).
--   * Constraints are inline in CREATE TABLE, so "create table if not exists" is idempotent.

-- Grain: one row per facility (hospital site).
create table if not exists core.facilities (
    facility_id uuid primary key default gen_random_uuid(),
    name text not null unique,
    timezone text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on core.facilities
    for each row execute function ops.set_updated_at();

-- Grain: one row per department of a facility.
create table if not exists core.departments (
    department_id uuid primary key default gen_random_uuid(),
    facility_id uuid references core.facilities (facility_id),
    name text,
    type text check (type in ('OPD', 'WARD', 'ER', 'LAB', 'PHARMACY', 'ADMIN')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_departments_facility_id on core.departments (facility_id);
create or replace trigger trg_set_updated_at
    before update on core.departments
    for each row execute function ops.set_updated_at();

-- Grain: one row per staff role (doctor, nurse, pharmacist, ...).
create table if not exists core.staff_roles (
    role_id uuid primary key default gen_random_uuid(),
    name text not null unique,
    scope text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on core.staff_roles
    for each row execute function ops.set_updated_at();

-- Grain: one row per natural person (patient, staff member or user); holds the PHI.
create table if not exists core.persons (
    person_id uuid primary key default gen_random_uuid(),
    first_name text,
    last_name text,
    dob date,
    sex text,
    phone text,
    email text,
    address jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on core.persons
    for each row execute function ops.set_updated_at();

-- Grain: one row per application login.
create table if not exists core.users (
    user_id uuid primary key default gen_random_uuid(),
    email text not null unique,
    person_id uuid references core.persons (person_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_users_person_id on core.users (person_id);
create or replace trigger trg_set_updated_at
    before update on core.users
    for each row execute function ops.set_updated_at();

-- Grain: one row per patient (a person registered as patient, identified by UHID).
create table if not exists core.patients (
    patient_id uuid primary key default gen_random_uuid(),
    person_id uuid not null unique references core.persons (person_id),
    uhid text not null unique,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on core.patients
    for each row execute function ops.set_updated_at();

-- Grain: one row per staff member (a person employed by the hospital).
create table if not exists core.staff (
    staff_id uuid primary key default gen_random_uuid(),
    person_id uuid not null unique references core.persons (person_id),
    department_id uuid references core.departments (department_id),
    role_id uuid references core.staff_roles (role_id),
    license_no text,
    active_from timestamptz,
    active_to timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_staff_department_id on core.staff (department_id);
create index if not exists idx_staff_role_id on core.staff (role_id);
create or replace trigger trg_set_updated_at
    before update on core.staff
    for each row execute function ops.set_updated_at();

-- Grain: one row per schedule block (or recurring pattern) of a staff member.
create table if not exists core.staff_schedules (
    schedule_id uuid primary key default gen_random_uuid(),
    staff_id uuid references core.staff (staff_id),
    starts_at timestamptz,
    ends_at timestamptz,
    pattern text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_staff_schedules_staff_id on core.staff_schedules (staff_id);
create or replace trigger trg_set_updated_at
    before update on core.staff_schedules
    for each row execute function ops.set_updated_at();
