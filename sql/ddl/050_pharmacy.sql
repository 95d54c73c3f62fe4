-- pharmacy: items, batches, the inventory ledger (principle 4), prescriptions, dispensing.
-- Conventions: see 020_core.sql.

-- Grain: one row per stock item (medicines and medications merged, one code).
create table if not exists pharmacy.items (
    item_id uuid primary key default gen_random_uuid(),
    code text unique,
    name text not null,
    form text,
    strength text,
    route text,
    is_active boolean default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create or replace trigger trg_set_updated_at
    before update on pharmacy.items
    for each row execute function ops.set_updated_at();

-- Grain: one row per received batch (lot) of an item.
-- The blueprint's "expiry date CHECK (expiry > current_date)" is NOT a CHECK constraint here:
-- a CHECK must be immutable. It would reject every historical batch in the backfill, and a
-- dump/restore made after a batch expires would fail to reload the data. The rule ("Ensure
-- expiry > current_date on batch inserts") is enforced on INSERT by trg_batches_expiry below.
create table if not exists pharmacy.batches (
    batch_id uuid primary key default gen_random_uuid(),
    item_id uuid references pharmacy.items (item_id),
    batch_no text,
    expiry date,
    initial_qty numeric(12,3),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_batches_item_id on pharmacy.batches (item_id);
create or replace trigger trg_set_updated_at
    before update on pharmacy.batches
    for each row execute function ops.set_updated_at();

-- Batch expiry rule, on INSERT only (updates of existing batches and restores are unaffected:
-- pg_dump creates triggers after loading data).
--   * expiry <= current_date -> the insert is refused (check_violation) with a message naming
--     the table, batch_no and rule. A NULL expiry is accepted, as a CHECK would.
--   * The backfill loads historical batches with "set local hms.migration_bypass = 'on'". Each
--     bypassed expired batch is recorded once in ops.audit_log (action EXPIRY_CHECK_BYPASSED,
--     pk = batch id, after = batch_no + expiry only: no PHI), so bypasses stay visible and an
--     idempotent re-run of the backfill does not add duplicate rows.
create or replace function pharmacy.check_batch_expiry()
returns trigger
language plpgsql
as $$
declare
    v_pk jsonb;
    v_after jsonb;
begin
    if new.expiry is null or new.expiry > current_date then
        return new;
    end if;

    if coalesce(current_setting('hms.migration_bypass', true), '') <> 'on' then
        raise exception 'pharmacy.batches: batch_no % has expiry % (today is %); rule: expiry > current_date on insert',
                coalesce(new.batch_no, '<null>'), new.expiry, current_date
            using errcode = 'check_violation',
                  schema = 'pharmacy',
                  table = 'batches',
                  column = 'expiry',
                  constraint = 'batches_expiry_after_today',
                  hint = 'Historical batches are loaded by the migration with hms.migration_bypass = on.';
    end if;

    v_pk := jsonb_build_object('batch_id', new.batch_id);
    v_after := jsonb_build_object('batch_no', new.batch_no, 'expiry', new.expiry);
    insert into ops.audit_log (action, table_name, pk, after)
    select 'EXPIRY_CHECK_BYPASSED', 'pharmacy.batches', v_pk, v_after
     where not exists (
        select 1
          from ops.audit_log l
         where l.table_name = 'pharmacy.batches'
           and l.pk = v_pk
           and l.action = 'EXPIRY_CHECK_BYPASSED'
           and l.after = v_after
     );
    return new;
end;
$$;

comment on function pharmacy.check_batch_expiry() is
    'BEFORE INSERT on pharmacy.batches: refuse expiry <= current_date unless hms.migration_bypass = on (then audited)';

create or replace trigger trg_batches_expiry
    before insert on pharmacy.batches
    for each row execute function pharmacy.check_batch_expiry();

-- Grain: one row per stock movement (immutable ledger, principle 4): GRN receipts and opening
-- balances, adjustments, issues, dispenses, returns; qty is signed. Stock is derived by
-- "view".stock_on_hand. Corrections are new rows (or soft-deletes), never edits of qty.
create table if not exists pharmacy.inventory_txns (
    txn_id uuid primary key default gen_random_uuid(),
    item_id uuid references pharmacy.items (item_id),
    batch_id uuid references pharmacy.batches (batch_id),
    facility_id uuid references core.facilities (facility_id),
    txn_type text check (txn_type in ('GRN', 'ADJUST', 'ISSUE', 'DISPENSE', 'RETURN')),
    qty numeric(12,3) check (qty <> 0),
    unit text,
    ref_table text,
    ref_id uuid,
    occurred_at timestamptz default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
-- Blueprint representative index; also serves as the item_id FK index.
create index if not exists idx_inv_item_time on pharmacy.inventory_txns (item_id, occurred_at desc);
create index if not exists idx_inventory_txns_batch_id on pharmacy.inventory_txns (batch_id);
create index if not exists idx_inventory_txns_facility_id on pharmacy.inventory_txns (facility_id);
create or replace trigger trg_set_updated_at
    before update on pharmacy.inventory_txns
    for each row execute function ops.set_updated_at();

-- Grain: one row per prescription written during an encounter.
create table if not exists pharmacy.prescriptions (
    rx_id uuid primary key default gen_random_uuid(),
    encounter_id uuid references clinical.encounters (encounter_id),
    prescribed_by uuid references core.staff (staff_id),
    prescribed_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_prescriptions_encounter_id on pharmacy.prescriptions (encounter_id);
create index if not exists idx_prescriptions_prescribed_by on pharmacy.prescriptions (prescribed_by);
create or replace trigger trg_set_updated_at
    before update on pharmacy.prescriptions
    for each row execute function ops.set_updated_at();

-- Grain: one row per prescribed item on a prescription.
create table if not exists pharmacy.rx_lines (
    rx_line_id uuid primary key default gen_random_uuid(),
    rx_id uuid references pharmacy.prescriptions (rx_id),
    item_id uuid references pharmacy.items (item_id),
    dose text,
    frequency text,
    duration text,
    route text,
    instructions text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_rx_lines_rx_id on pharmacy.rx_lines (rx_id);
create index if not exists idx_rx_lines_item_id on pharmacy.rx_lines (item_id);
create or replace trigger trg_set_updated_at
    before update on pharmacy.rx_lines
    for each row execute function ops.set_updated_at();

-- Grain: one row per dispensing of a prescription line from one batch.
create table if not exists pharmacy.dispenses (
    dispense_id uuid primary key default gen_random_uuid(),
    rx_line_id uuid references pharmacy.rx_lines (rx_line_id),
    batch_id uuid references pharmacy.batches (batch_id),
    qty numeric(12,3) check (qty > 0),
    dispensed_at timestamptz,
    dispensed_by uuid references core.staff (staff_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_dispenses_rx_line_id on pharmacy.dispenses (rx_line_id);
create index if not exists idx_dispenses_batch_id on pharmacy.dispenses (batch_id);
create index if not exists idx_dispenses_dispensed_by on pharmacy.dispenses (dispensed_by);
create or replace trigger trg_set_updated_at
    before update on pharmacy.dispenses
    for each row execute function ops.set_updated_at();
