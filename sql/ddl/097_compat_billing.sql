-- Billing rules shared by the write paths of the billing compatibility views
-- (sql/compat/billing.write.sql, billing_item.write.sql, billing_payments.write.sql, ...): the
-- lookups of a legacy id to its canonical row and the re-derivation of an invoice's totals and
-- status after one of its lines or payments changed. The same rules as the transforms
-- (sql/billing/invoices.sql, charges.sql, payments.sql; sql/ddl/096_billing_helpers.sql), read from
-- the canonical tables and the provenance only (never stg or the legacy tables: after the switch
-- stg goes stale and the legacy tables are the views themselves). Idempotent (create or replace).

-- The live canonical row a legacy row became (LOADED) or was merged into (MERGED, when it has no
-- LOADED row), NULL when it has none. Callers check that the row is live.
create or replace function compat.billing_canonical(p_legacy_table text, p_legacy_key text, p_canonical_table text)
returns uuid
language sql
stable
as $$
    select m.canonical_id
    from ops.legacy_id_map as m
    where m.canonical_table = p_canonical_table
      and m.legacy_table = p_legacy_table
      and m.legacy_key = p_legacy_key
    order by m.disposition <> 'LOADED'
    limit 1
$$;

comment on function compat.billing_canonical(text, text, text) is
    'The canonical id a legacy row became (LOADED) or was merged into (ops.legacy_id_map); NULL when none';

-- Record the provenance of a row the write path loaded (run 'compat'), so its legacy id resolves.
create or replace function compat.billing_provenance(p_legacy_table text, p_legacy_key text, p_canonical_table text,
                                                     p_canonical_id uuid)
returns void
language sql
as $$
    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values (p_legacy_table, p_legacy_key, p_canonical_table, p_canonical_id, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now()
    where m.canonical_id is distinct from excluded.canonical_id or m.disposition <> 'LOADED'
$$;

-- A payment method as the canonical code (ref.codes map:billing.payment_method); NULL when unmapped.
create or replace function compat.billing_method(p_method text)
returns text
language sql
stable
as $$
    select c.display from ref.codes as c
    where c.system = 'map:billing.payment_method' and c.code = etl.norm_key(p_method)
$$;

-- Re-derive an invoice from its live lines and payments, as sql/billing/invoices.sql does:
--   due_amount  = the sum of its live lines' live charges - discount_amount + tax_amount;
--   paid_amount = the sum of its live payments;
--   status      = VOID when the legacy status is 'cancelled'; DRAFT for a discharge header without
--                 payments; PAID when the payments cover the due amount; else ISSUED;
--   legacy_attributes 'lines' / 'unitemized' (the header subtotal's part no line itemizes).
-- A soft-deleted invoice is left alone.
create or replace function compat.billing_refresh_invoice(p_invoice_id uuid)
returns void
language plpgsql
as $$
declare
    v_lines numeric;
    v_paid numeric;
begin
    if p_invoice_id is null then
        return;
    end if;
    select coalesce(sum(c.total), 0) into v_lines
    from billing.invoice_lines as l
    join billing.charges as c on c.charge_id = l.charge_id and c.deleted_at is null
    where l.invoice_id = p_invoice_id and l.deleted_at is null;

    select coalesce(sum(p.amount), 0) into v_paid
    from billing.payments as p
    where p.invoice_id = p_invoice_id and p.deleted_at is null;

    update billing.invoices as i
    set due_amount = v_lines - coalesce(i.discount_amount, 0) + coalesce(i.tax_amount, 0),
        paid_amount = v_paid,
        status = case
            when etl.norm_key(i.legacy_attributes ->> 'payment_status') = 'cancelled' then 'VOID'
            when i.bill_type = 'DISCHARGE' and v_paid = 0 then 'DRAFT'
            when v_paid >= v_lines - coalesce(i.discount_amount, 0) + coalesce(i.tax_amount, 0) then 'PAID'
            else 'ISSUED'
        end,
        legacy_attributes = jsonb_strip_nulls(
            coalesce(i.legacy_attributes, '{}'::jsonb)
            || jsonb_build_object(
                'lines', v_lines,
                'unitemized', nullif(coalesce((i.legacy_attributes ->> 'subtotal')::numeric, v_lines) - v_lines, 0))),
        updated_by = 'compat'
    where i.invoice_id = p_invoice_id and i.deleted_at is null;
end
$$;

comment on function compat.billing_refresh_invoice(uuid) is
    'Re-derive an invoice''s due_amount, paid_amount and status from its live lines and payments (the rules of sql/billing/invoices.sql)';

-- The canonical patient of a legacy patients id named by a bill (LOADED or MERGED, live); NULL for
-- no id. An id that is not loaded raises ORPHAN_FK naming the table and column (the bill is
-- quarantined, as the backfill does).
create or replace function compat.billing_patient(p_table text, p_column text, p_patient_key text)
returns uuid
language plpgsql
stable
as $$
declare
    v_patient_id uuid;
begin
    if p_patient_key is null then
        return null;
    end if;
    select p.patient_id into v_patient_id
    from core.patients as p
    where p.patient_id = compat.billing_canonical('patients', p_patient_key, 'core.patients')
      and p.deleted_at is null;
    if v_patient_id is null then
        raise exception 'compat %: rule ORPHAN_FK, column %: the bill''s patient is not loaded', p_table, p_column
            using column = p_column, constraint = 'ORPHAN_FK';
    end if;
    return v_patient_id;
end
$$;

-- Upsert the invoice of a legacy bill header (the rules of sql/billing/invoices.sql, amounts already
-- chosen by the caller's "amount column wins" rule), record its provenance and re-derive its
-- totals. Raises FUTURE_DATE (issued more than an hour ahead of now, the as-of of a live write) and
-- NEGATIVE_AMOUNT (subtotal - discount + tax below zero). Returns the invoice id.
create or replace function compat.billing_upsert_invoice(
    p_legacy_table text, p_key text, p_patient_id uuid, p_encounter_id uuid, p_admission_id uuid,
    p_bill_type text, p_buyer_type text, p_invoice_no text, p_issued_at timestamptz, p_created_at timestamptz,
    p_subtotal numeric, p_discount numeric, p_tax numeric, p_attrs jsonb, p_issued_column text, p_subtotal_column text)
returns uuid
language plpgsql
as $$
declare
    v_invoice_id uuid := etl.canonical_id('billing.invoices', p_legacy_table, p_key);
begin
    if p_issued_at > now() + interval '1 hour' then
        raise exception 'compat %: rule FUTURE_DATE, column %: issued after now', p_legacy_table, p_issued_column
            using column = p_issued_column, constraint = 'FUTURE_DATE';
    end if;
    if coalesce(p_subtotal, 0) - p_discount + p_tax < 0 then
        raise exception 'compat %: rule NEGATIVE_AMOUNT, column %: the bill amount is negative', p_legacy_table, p_subtotal_column
            using column = p_subtotal_column, constraint = 'NEGATIVE_AMOUNT';
    end if;

    insert into billing.invoices as i (
        invoice_id, patient_id, encounter_id, admission_id, status, issued_at, due_amount, paid_amount,
        invoice_no, bill_type, buyer_type, discount_amount, tax_amount, legacy_attributes,
        created_at, created_by, updated_by
    )
    values (
        v_invoice_id, p_patient_id, p_encounter_id, p_admission_id, 'ISSUED', p_issued_at, 0, 0,
        p_invoice_no, p_bill_type, p_buyer_type, p_discount, p_tax, jsonb_strip_nulls(p_attrs),
        coalesce(p_created_at, p_issued_at, now()), 'compat', 'compat'
    )
    on conflict (invoice_id) do update set
        patient_id = excluded.patient_id,
        encounter_id = excluded.encounter_id,
        admission_id = excluded.admission_id,
        issued_at = excluded.issued_at,
        invoice_no = excluded.invoice_no,
        bill_type = excluded.bill_type,
        buyer_type = excluded.buyer_type,
        discount_amount = excluded.discount_amount,
        tax_amount = excluded.tax_amount,
        legacy_attributes = excluded.legacy_attributes
            || coalesce(i.legacy_attributes - array['bill_type', 'payment_status', 'payment_method', 'subtotal', 'total', 'amount_paid'],
                        '{}'::jsonb),
        created_at = excluded.created_at,
        updated_by = 'compat',
        deleted_at = null;

    perform compat.billing_provenance(p_legacy_table, p_key, 'billing.invoices', v_invoice_id);
    perform compat.billing_refresh_invoice(v_invoice_id);
    return v_invoice_id;
end
$$;

-- Soft-delete an invoice (status VOID) and its lines and their charges still live; its payments stay.
create or replace function compat.billing_delete_invoice(p_invoice_id uuid)
returns void
language sql
as $$
    update billing.charges as c
    set deleted_at = now(), updated_by = 'compat'
    from billing.invoice_lines as l
    where l.invoice_id = p_invoice_id and l.deleted_at is null and c.charge_id = l.charge_id and c.deleted_at is null;
    update billing.invoice_lines as l
    set deleted_at = now(), updated_by = 'compat'
    where l.invoice_id = p_invoice_id and l.deleted_at is null;
    update billing.invoices as i
    set status = 'VOID', deleted_at = now(), updated_by = 'compat'
    where i.invoice_id = p_invoice_id and i.deleted_at is null;
$$;

-- Upsert the charge and the invoice line of a legacy bill line (the rules of sql/billing/charges.sql
-- and invoice_lines.sql): p_kind the billing_line code (lab, medicine, procedure, stay, service), or
-- 'room' for the one line of a discharge header;
-- p_qty / p_unit / p_amount as written (p_amount: the amount column, else qty x unit); p_fee_match
-- the free-text item name (matching only); p_medicine_key the legacy medications id; p_ref_key the
-- legacy ref id; p_allocation_id the bill's canonical bed allocation (IP bills). Raises ORPHAN_FK
-- (the bill is not loaded), MISSING_VALUE / NEGATIVE_AMOUNT / OUT_OF_RANGE (amount), ZERO_QTY (qty),
-- naming the caller's columns. Re-derives the invoice (and the previous one when the line moved).
create or replace function compat.billing_upsert_line(
    p_legacy_table text, p_key text, p_header_table text, p_header_key text, p_kind text,
    p_qty numeric, p_unit numeric, p_amount numeric, p_fee_match text, p_medicine_key text, p_ref_key text,
    p_external boolean, p_created_at timestamptz, p_allocation_id uuid,
    p_header_column text, p_qty_column text, p_amount_column text)
returns void
language plpgsql
as $$
declare
    v_charge_id uuid := etl.canonical_id('billing.charges', p_legacy_table, p_key);
    v_line_id uuid := etl.canonical_id('billing.invoice_lines', p_legacy_table, p_key);
    v_prev_invoice uuid;
    v_inv billing.invoices%rowtype;
    v_charge_qty numeric;
    v_charge_unit numeric;
    v_fee_id uuid;
    v_encounter_id uuid;
    v_rx_line_id uuid;
    v_dispense_id uuid;
    v_lab_order_id uuid;
    v_source_table text;
    v_source_id uuid;
    v_item_name text;
begin
    select l.invoice_id into v_prev_invoice
    from billing.invoice_lines as l
    where l.line_id = v_line_id and l.deleted_at is null;

    select i.* into v_inv
    from billing.invoices as i
    where i.invoice_id = compat.billing_canonical(p_header_table, p_header_key, 'billing.invoices')
      and i.deleted_at is null;
    if v_inv.invoice_id is null then
        raise exception 'compat %: rule ORPHAN_FK, column %: the line''s bill is not loaded', p_legacy_table, p_header_column
            using column = p_header_column, constraint = 'ORPHAN_FK';
    end if;

    if p_amount is null then
        raise exception 'compat %: rule MISSING_VALUE, column %: the line has no amount', p_legacy_table, p_amount_column
            using column = p_amount_column, constraint = 'MISSING_VALUE';
    elsif p_amount < 0 then
        raise exception 'compat %: rule NEGATIVE_AMOUNT, column %: the line amount is negative', p_legacy_table, p_amount_column
            using column = p_amount_column, constraint = 'NEGATIVE_AMOUNT';
    elsif p_amount >= 10000000000 or p_amount <> round(p_amount, 2) then
        raise exception 'compat %: rule OUT_OF_RANGE, column %: not an amount in paise', p_legacy_table, p_amount_column
            using column = p_amount_column, constraint = 'OUT_OF_RANGE';
    elsif p_qty <= 0 then
        raise exception 'compat %: rule ZERO_QTY, column %: the quantity is not positive', p_legacy_table, p_qty_column
            using column = p_qty_column, constraint = 'ZERO_QTY';
    end if;

    -- qty / unit price by the amount rule (sql/billing/charges.sql, priced_lines)
    if p_qty is null then
        v_charge_qty := 1;
        v_charge_unit := p_amount;
    elsif p_qty = round(p_qty, 3) and p_unit = round(p_unit, 2) and p_qty * p_unit = p_amount then
        v_charge_qty := p_qty;
        v_charge_unit := p_unit;
    elsif p_qty = round(p_qty, 3) and round(p_amount / p_qty, 2) * p_qty = p_amount then
        v_charge_qty := p_qty;
        v_charge_unit := round(p_amount / p_qty, 2);
    else
        v_charge_qty := 1;
        v_charge_unit := p_amount;
    end if;

    -- fee
    if p_kind in ('medicine', 'room') then
        select f.fee_id into v_fee_id from billing.fee_schedules as f
        where f.code = case p_kind when 'medicine' then 'DERIVED.PHARMACY_DISPENSING' else 'DERIVED.ROOM_CHARGES' end
          and f.deleted_at is null;
    else
        select f.fee_id into v_fee_id
        from billing.fee_schedules as f
        where f.deleted_at is null and f.category is distinct from 'Derived'
          and etl.norm_key(f.name) = etl.norm_key(p_fee_match)
        order by f.code
        limit 1;
        if v_fee_id is null then
            select f.fee_id into v_fee_id
            from billing.fee_schedules as f
            where f.deleted_at is null
              and f.code = case p_kind
                               when 'lab' then 'DERIVED.LAB_TEST'
                               when 'stay' then coalesce(
                                   (select f2.code
                                    from inpatient.bed_allocations as ba
                                    join inpatient.beds as b on b.bed_id = ba.bed_id
                                    join billing.fee_schedules as f2 on f2.code = 'DERIVED.BED_DAY_' || b.type
                                    where ba.allocation_id = p_allocation_id),
                                   'DERIVED.BED_DAY_UNKNOWN')
                               else 'DERIVED.OTHER_SERVICE'
                           end;
        end if;
    end if;

    -- encounter: the invoice's, else inferred from the patient's encounters at the bill's time
    v_encounter_id := v_inv.encounter_id;
    if v_encounter_id is null and v_inv.patient_id is not null then
        select e.encounter_id into v_encounter_id
        from clinical.encounters as e
        where e.patient_id = v_inv.patient_id and e.deleted_at is null
        order by (e.start_at <= v_inv.issued_at) desc,
                 case when e.start_at <= v_inv.issued_at then e.start_at end desc nulls last,
                 e.start_at, e.encounter_id
        limit 1;
    end if;

    -- source: the canonical row charged for
    if p_kind = 'medicine' and p_ref_key is not null then
        select m.canonical_id into v_rx_line_id
        from ops.legacy_id_map as m
        where m.canonical_table = 'pharmacy.rx_lines' and m.legacy_table = 'prescription_items'
          and m.legacy_key = p_ref_key and m.disposition = 'LOADED';
        select d.dispense_id into v_dispense_id
        from pharmacy.dispenses as d
        where d.rx_line_id = v_rx_line_id and d.deleted_at is null
        order by d.dispensed_at nulls last, d.dispense_id
        limit 1;
    elsif p_kind = 'lab' and p_ref_key is not null then
        select m.canonical_id into v_lab_order_id
        from ops.legacy_id_map as m
        where m.canonical_table = 'clinical.lab_orders' and m.legacy_table = 'lab_reports'
          and m.legacy_key = p_ref_key and m.disposition = 'LOADED';
    end if;
    v_source_table := case
        when v_dispense_id is not null then 'pharmacy.dispenses'
        when v_rx_line_id is not null then 'pharmacy.rx_lines'
        when v_lab_order_id is not null then 'clinical.lab_orders'
        when p_kind = 'stay' and p_allocation_id is not null then 'inpatient.bed_allocations'
        when p_kind in ('stay', 'room') and v_inv.admission_id is not null then 'inpatient.admissions'
        when v_inv.encounter_id is not null then 'clinical.encounters'
        else 'legacy.' || p_legacy_table
    end;
    v_source_id := case v_source_table
        when 'pharmacy.dispenses' then v_dispense_id
        when 'pharmacy.rx_lines' then v_rx_line_id
        when 'clinical.lab_orders' then v_lab_order_id
        when 'inpatient.bed_allocations' then p_allocation_id
        when 'inpatient.admissions' then v_inv.admission_id
        when 'clinical.encounters' then v_inv.encounter_id
        else case when p_key ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then p_key::uuid
                  else etl.canonical_id('legacy', p_legacy_table, p_key) end
    end;

    insert into billing.charges as c (
        charge_id, encounter_id, admission_id, fee_id, qty, unit_price, source_table, source_id,
        created_at, created_by, updated_by
    )
    values (
        v_charge_id, v_encounter_id, v_inv.admission_id, v_fee_id, v_charge_qty, v_charge_unit,
        v_source_table, v_source_id, coalesce(p_created_at, v_inv.created_at, now()), 'compat', 'compat'
    )
    on conflict (charge_id) do update set
        encounter_id = excluded.encounter_id,
        admission_id = excluded.admission_id,
        fee_id = excluded.fee_id,
        qty = excluded.qty,
        unit_price = excluded.unit_price,
        source_table = excluded.source_table,
        source_id = excluded.source_id,
        created_at = excluded.created_at,
        updated_by = 'compat',
        deleted_at = null;

    -- the invoice line: the drug master name of a stocked medicine, else the fee's name
    if p_kind = 'medicine' and not p_external and p_medicine_key is not null then
        select it.name into v_item_name
        from pharmacy.items as it
        where it.item_id = compat.billing_canonical('medications', p_medicine_key, 'pharmacy.items')
          and it.deleted_at is null;
    end if;

    insert into billing.invoice_lines as l (
        line_id, invoice_id, charge_id, description, amount, created_at, created_by, updated_by
    )
    select
        v_line_id, v_inv.invoice_id, v_charge_id,
        coalesce(v_item_name, f.name || case when p_external then ' (external)' else '' end),
        c.total, c.created_at, 'compat', 'compat'
    from billing.charges as c
    left join billing.fee_schedules as f on f.fee_id = c.fee_id
    where c.charge_id = v_charge_id
    on conflict (line_id) do update set
        invoice_id = excluded.invoice_id,
        charge_id = excluded.charge_id,
        description = excluded.description,
        amount = excluded.amount,
        created_at = excluded.created_at,
        updated_by = 'compat',
        deleted_at = null;

    perform compat.billing_provenance(p_legacy_table, p_key, 'billing.charges', v_charge_id);
    perform compat.billing_provenance(p_legacy_table, p_key, 'billing.invoice_lines', v_line_id);
    perform compat.billing_refresh_invoice(v_inv.invoice_id);
    if v_prev_invoice is distinct from v_inv.invoice_id then
        perform compat.billing_refresh_invoice(v_prev_invoice);
    end if;
end
$$;

-- Soft-delete the charge and the invoice line of a legacy bill line and re-derive its invoice.
create or replace function compat.billing_delete_line(p_legacy_table text, p_key text)
returns void
language plpgsql
as $$
declare
    v_invoice_id uuid;
begin
    select l.invoice_id into v_invoice_id
    from billing.invoice_lines as l
    where l.line_id = etl.canonical_id('billing.invoice_lines', p_legacy_table, p_key) and l.deleted_at is null;
    update billing.charges set deleted_at = now(), updated_by = 'compat'
    where charge_id = etl.canonical_id('billing.charges', p_legacy_table, p_key) and deleted_at is null;
    update billing.invoice_lines set deleted_at = now(), updated_by = 'compat'
    where line_id = etl.canonical_id('billing.invoice_lines', p_legacy_table, p_key) and deleted_at is null;
    perform compat.billing_refresh_invoice(v_invoice_id);
end
$$;
