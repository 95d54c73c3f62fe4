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

-- pharmacy.items: attributes the legacy drug master has and the blueprint's items lacks (issue
-- "pharmacy.items"). Columns where the new system needs the value: manufacturer (item identity:
-- matching and labels), generic_name (prescribing by generic), hsn_code and gst_rate (GST on every
-- sale line), is_external (non-stock 'External Pharmacy' items stay visible and apart). Everything
-- else the legacy row holds (prices, stock counters, reorder levels, schedule, category, pack unit,
-- storage, location, cgst/sgst halves, supplier, raw status and the raw spellings) is kept in
-- legacy_attributes for the compatibility layer, with legacy_codes (the other legacy codes of the
-- item). ADD COLUMN IF NOT EXISTS: a database created before these columns gets them.
alter table pharmacy.items add column if not exists manufacturer text;
alter table pharmacy.items add column if not exists generic_name text;
alter table pharmacy.items add column if not exists hsn_code text;
alter table pharmacy.items add column if not exists gst_rate numeric(5,2);
alter table pharmacy.items add column if not exists is_external boolean default false;
alter table pharmacy.items add column if not exists legacy_attributes jsonb;

comment on column pharmacy.items.manufacturer is
    'Manufacturer, normalized (case, spaces, known misspellings mapped by ref.codes map:medications.manufacturer)';
comment on column pharmacy.items.is_external is
    'Non-stock item bought from an outside pharmacy (legacy is_external, category External, manufacturer External Pharmacy)';
comment on column pharmacy.items.legacy_attributes is
    'The surviving legacy row''s attributes that have no column (prices, stock counters, schedule, ...) and legacy_codes: the other legacy codes of the item (see pharmacy.item_for_code)';

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

-- pharmacy.batches: what the legacy batch holds, the new system needs and the blueprint's key
-- columns lack (issue #17, sql/pharmacy/batches.sql). ADD COLUMN IF NOT EXISTS: a database created
-- before these columns gets them.
--   received_on        the receipt date: the date of the batch's opening balance in the ledger;
--   unit               the unit of initial_qty and of every ledger quantity of the batch: 'unit' (the
--                      smallest dispensing unit: a tablet, a bottle) or 'pack' (a batch received in
--                      packs before the 2026-02-27 cut-over whose pack size is unknown, Q9);
--   pack_size          units per pack (legacy notes 'pack of N'; NULL unknown);
--   legacy_attributes  the legacy values without a column, for the compatibility layer: prices (per
--                      pack), supplier, purchase, the raw quantities and their unit, status flags,
--                      legacy code, notes.
alter table pharmacy.batches add column if not exists received_on date;
alter table pharmacy.batches add column if not exists unit text check (unit in ('unit', 'pack'));
alter table pharmacy.batches add column if not exists pack_size integer check (pack_size > 0);
alter table pharmacy.batches add column if not exists legacy_attributes jsonb;

comment on column pharmacy.batches.unit is
    'Unit of initial_qty and of the batch''s ledger quantities: unit (smallest dispensing unit) or pack (pack size unknown)';
comment on column pharmacy.batches.pack_size is 'Units per pack (legacy medicine_batches.notes ''pack of N''); NULL unknown';

-- Packs and units (Q9), one definition for the transforms (sql/pharmacy/batches.sql,
-- inventory_txns.sql) and their conservation checks: the legacy purchase trigger counted packs
-- until this date and units (packs x pack size) from it on. A batch received before it holds
-- received_quantity and current_quantity in packs; so does a 'purchase' ledger row dated before it.
create or replace function pharmacy.pack_cutover()
returns date
language sql
immutable
parallel safe
as $$ select date '2026-02-27' $$;

-- The pack size a legacy batch's notes state ('... | pack of 10'): units per pack, NULL when the
-- notes state none (or 0). Never raises (at most 6 digits are read).
create or replace function pharmacy.pack_size_of(p_notes text)
returns integer
language sql
immutable
parallel safe
as $$ select nullif((regexp_match(p_notes, 'pack of ([0-9]{1,6})(?![0-9])', 'i'))[1]::integer, 0) $$;

-- Grain: one row per stock movement (immutable ledger, principle 4): GRN receipts and opening
-- balances, adjustments, issues, dispenses, returns; qty is signed. Stock is derived by
-- "view".stock_on_hand. Corrections are new rows (an ADJUST), never edits: trg_inventory_txns_immutable
-- below refuses UPDATE, DELETE and TRUNCATE.
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

-- pharmacy.inventory_txns: the legacy ledger row's values without a column (legacy type and signed
-- quantity, unit price, the total recomputed, references and notes; NULL on the opening balances
-- and adjustments the migration derives), kept for the compatibility layer (issue #17).
alter table pharmacy.inventory_txns add column if not exists legacy_attributes jsonb;

-- The ledger is immutable: a row, once written, is never changed or removed (a correction is a new
-- ADJUST row; soft-deleting a movement would change stock as silently as an edit). UPDATE and
-- DELETE are refused row by row, TRUNCATE per statement, for every role (only disabling the trigger,
-- which needs the table's owner, gets past it). The message names the table and the rule, never a
-- value. The migration's re-runs write nothing here: the engine updates a row only when it differs
-- (sql/pharmacy/inventory_txns.sql re-emits stored rows unchanged).
create or replace function pharmacy.refuse_ledger_change()
returns trigger
language plpgsql
as $$
begin
    raise exception 'pharmacy.inventory_txns: % refused; rule: the stock ledger is immutable (post a correcting ADJUST row instead)',
            tg_op
        using errcode = 'restrict_violation',
              schema = 'pharmacy',
              table = 'inventory_txns',
              constraint = 'inventory_txns_immutable',
              hint = 'Stock corrections are new ledger rows (txn_type ADJUST).';
end;
$$;

comment on function pharmacy.refuse_ledger_change() is
    'BEFORE UPDATE/DELETE/TRUNCATE on pharmacy.inventory_txns: the ledger is immutable (restrict_violation)';

create or replace trigger trg_inventory_txns_immutable
    before update or delete on pharmacy.inventory_txns
    for each row execute function pharmacy.refuse_ledger_change();
create or replace trigger trg_inventory_txns_no_truncate
    before truncate on pharmacy.inventory_txns
    for each statement execute function pharmacy.refuse_ledger_change();

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

-- Prescriptions, lines and dispenses: what the legacy rows hold, the new system needs and the
-- blueprint's key columns lack (issue #17; sql/pharmacy/prescriptions.sql, rx_lines.sql,
-- dispenses.sql). Statuses are one vocabulary each (ref.codes map:prescriptions.status,
-- map:prescription_items.status in sql/ref/codes.d/pharmacy_rx.sql; an unknown legacy status is
-- NULL with a WARN). ADD COLUMN IF NOT EXISTS: a database created before these columns gets them.
--   prescriptions  rx_number: the 'RX...' number printed on the prescription and quoted at the
--                  counter (indexed, not unique: a legacy repeat loads and stays findable);
--                  status; instructions, diagnosis, notes: the prescriber's text, printed with it.
--   rx_lines       qty: the prescribed quantity (dispensing is measured against it); status.
--   all three      legacy_attributes: the legacy values without a column (prices, the line's own
--                  dispensing counters, billing acknowledgements, ...) for the compatibility layer.
alter table pharmacy.prescriptions add column if not exists rx_number text;
alter table pharmacy.prescriptions add column if not exists status text
    check (status in ('ACTIVE', 'PARTIAL', 'DISPENSED', 'COMPLETED', 'CANCELLED'));
alter table pharmacy.prescriptions add column if not exists instructions text;
alter table pharmacy.prescriptions add column if not exists diagnosis text;
alter table pharmacy.prescriptions add column if not exists notes text;
alter table pharmacy.prescriptions add column if not exists legacy_attributes jsonb;
create index if not exists idx_prescriptions_rx_number on pharmacy.prescriptions (rx_number);
alter table pharmacy.rx_lines add column if not exists qty numeric(12,3);
alter table pharmacy.rx_lines add column if not exists status text
    check (status in ('PENDING', 'PARTIAL', 'DISPENSED', 'CANCELLED'));
alter table pharmacy.rx_lines add column if not exists legacy_attributes jsonb;
alter table pharmacy.dispenses add column if not exists legacy_attributes jsonb;

comment on column pharmacy.prescriptions.rx_number is
    'The legacy prescription number (''RX'' + 6 + 3 digits), as printed and quoted; not unique';
comment on column pharmacy.rx_lines.qty is 'Prescribed quantity (legacy prescription_items.quantity), > 0 or NULL';
comment on column pharmacy.rx_lines.instructions is
    'Line instructions as written, less the parts moved to a column (''Frequency: ...'' when it fills or repeats frequency)';

-- === Drug master normalization (sql/pharmacy/items.sql) ==========================================
-- One expression each (SQL, inlined by the planner) or plpgsql where a value is used twice. Never
-- raise on any text (NULL in, NULL out; a 1 MB string is only scanned).

-- Text as an item stores it: Unicode NFC (on a UTF8 database), every run of blanks one space,
-- trimmed; NULL when blank.
create or replace function pharmacy.clean_text(p text)
returns text
language sql
stable
parallel safe
as $$
    select nullif(btrim(regexp_replace(
        case when getdatabaseencoding() = 'UTF8' then normalize(p, nfc) else p end,
        '[\s\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000\ufeff]+', ' ', 'g')), '')
$$;

-- A drug name as matched (never stored): clean_text, lower case, and a number written apart from
-- its unit joined to it ('500 mg' = '500mg').
create or replace function pharmacy.match_name(p text)
returns text
language sql
stable
parallel safe
as $$
    select regexp_replace(lower(pharmacy.clean_text(p)),
                          '([0-9]) ?(mcg|mg|gm|g|ml|iu|%)(?![[:alnum:]])', '\1\2', 'g')
$$;

-- The strength a text states, normalized: number (no leading or trailing zeros) and unit, lower
-- case, no blanks ('500mg', '3.125mg', '125mg/5ml', '1%'). NULL when the text states no number
-- WITH a unit: a bare number ('Cerom-250', 'Carvil 3.125') is not a strength. plpgsql: the match
-- is taken once (measured: 13 us a call, against 86 us as a SQL function that cannot be inlined).
create or replace function pharmacy.strength_of(p text)
returns text
language plpgsql
stable
parallel safe
as $$
declare
    m text[] := regexp_match(lower(pharmacy.clean_text(p)),
        '(?:^|[^0-9.])([0-9]{1,7}(?:\.[0-9]{1,4})?) ?(mcg|µg|ug|mg|gm|g|ml|iu|%)(?: ?/ ?([0-9]{0,4}) ?(ml|gm|g))?(?![[:alnum:]])');
begin
    if m is null then
        return null;
    end if;
    return regexp_replace(case when m[1] like '%.%' then regexp_replace(m[1], '\.?0+$', '') else m[1] end, '^0+([0-9])', '\1')
        || case m[2] when 'gm' then 'g' when 'ug' then 'mcg' when 'µg' then 'mcg' else m[2] end
        || case when m[4] is not null
                then '/' || coalesce(nullif(regexp_replace(m[3], '^0+([0-9])', '\1'), '1'), '')
                     || case m[4] when 'gm' then 'g' else m[4] end
                else '' end;
end;
$$;

-- A legacy drug code as matched and stored: blanks removed, upper case. NULL when blank or longer
-- than 64 characters (not a code: legacy codes are varchar(50)).
create or replace function pharmacy.norm_code(p text)
returns text
language plpgsql
stable
parallel safe
as $$
declare
    c text := upper(replace(pharmacy.clean_text(p), ' ', ''));
begin
    return case when length(c) between 1 and 64 then c end;
end;
$$;

-- The legacy code scheme of a normalized code: 1 = the import's 'MED-' + 24 hex characters
-- (md5 of name|manufacturer), 2 = the seed script's 'MED-' + 32 hex (a uuid), 3 = any other code,
-- 4 = none. The survivor of a merge is the row with the lowest (see sql/pharmacy/items.sql).
create or replace function pharmacy.code_scheme(p_code text)
returns integer
language sql
immutable
parallel safe
as $$
    select case when p_code ~ '^MED-[0-9A-F]{24}$' then 1
                when p_code ~ '^MED-[0-9A-F]{32}$' then 2
                when p_code is not null then 3
                else 4 end
$$;

-- === Legacy code lookup ===========================================================================
-- Every legacy drug code resolves to its item: the item whose code it is (match 'CODE'), else the
-- live item that keeps it among its legacy_codes (match 'LEGACY_CODE': the code of a legacy row
-- merged into the item, or a code the item could not keep). The input is normalized like the
-- stored codes (case, blanks). A code two contradicting legacy rows share (two items) returns both,
-- the item holding it first. The same answer through provenance: ops.legacy_id_map maps each
-- legacy medications/medicines row (LOADED or MERGED) to its item, and the legacy row holds the code.
create or replace function pharmacy.item_for_code(p_code text)
returns table (item_id uuid, code text, match text)
language sql
stable
parallel safe
as $$
    select i.item_id, i.code, case when i.code = k.code then 'CODE' else 'LEGACY_CODE' end
    from (select pharmacy.norm_code(p_code) as code) as k
    join pharmacy.items as i
      on i.code = k.code or coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) ? k.code
    where i.deleted_at is null
    order by i.code = k.code desc, i.item_id
$$;

comment on function pharmacy.item_for_code(text) is
    'Legacy drug code (any scheme, any case) -> live pharmacy.items row: its own code first, else a merged row''s code (legacy_codes)';
