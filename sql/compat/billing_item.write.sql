-- compat write path: billing_item (a bill line) -> billing.charges + billing.invoice_lines, with the
-- rules of sql/billing/charges.sql, sql/billing/invoice_lines.sql and etl.billing_lines
-- (sql/ddl/096_billing_helpers.sql), read from the canonical tables and the provenance only.
-- Shared helpers (the charge + line upsert, the invoice re-derivation): sql/ddl/097_compat_billing.sql.
--   INSERT / UPDATE  upsert the charge etl.canonical_id('billing.charges', 'billing_item', <id>) and the
--   invoice line etl.canonical_id('billing.invoice_lines', 'billing_item', <id>):
--     invoice       the bill's invoice (billing_id through provenance); none live raises ORPHAN_FK;
--     line kind     the legacy.billing_line code of line_type_id (through provenance; unknown: service);
--     amount        total_amount, else qty x unit_amount (the amount column wins, Q15); qty / unit
--                   price as written when they multiply to it, else amount / qty when exact in cents,
--                   else qty 1 x amount; a missing qty is 1;
--     fee           medicine -> DERIVED.PHARMACY_DISPENSING; else the catalog fee named like the
--                   description (first by code), else DERIVED.LAB_TEST (lab), DERIVED.BED_DAY_<bed
--                   type> (stay), DERIVED.OTHER_SERVICE;
--     encounter / admission  the invoice's; an invoice without an encounter: the patient's
--                   encounter in progress at the bill's time, else the latest before, else the first
--                   after (INFERRED_ENCOUNTER);
--     source        the dispense (else the rx line) of a medicine line's ref_id, the lab order of a lab
--                   line's ref_id, the bill's allocation (stay), the invoice's encounter, else the legacy
--                   line itself ('legacy.billing_item', its id);
--     the invoice line's description  the drug master name of medicine_id for a stocked medicine, else
--                   the fee's name (+ ' (external)' for batch_number 'EXTERNAL'); amount = the charge total;
--     then the invoice's due_amount and status are re-derived (compat.billing_refresh_invoice), the
--     previous invoice's too when the line moved.
--     Raises (the dispatcher quarantines the row): ORPHAN_FK (billing_id), MISSING_VALUE (no amount),
--     NEGATIVE_AMOUNT, OUT_OF_RANGE (total_amount), ZERO_QTY (qty).
--   DELETE  soft-deletes the charge and the line, and re-derives the invoice.
--   The rule is also the exception's CONSTRAINT name, so ops.quarantine.detail.constraint names it.
create or replace function compat.apply_billing_item(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_kind text;
    v_qty numeric;
    v_unit numeric;
    v_allocation_id uuid;
begin
    if p_op = 'DELETE' then
        perform compat.billing_delete_line('billing_item', p_key);
        return;
    end if;

    select c.code into v_kind
    from ref.codes as c
    where c.system = 'legacy.billing_line'
      and etl.canonical_id('ref.codes', c.system, c.code)
          = compat.billing_canonical('ref_code', p_new ->> 'line_type_id', 'ref.codes');

    -- the bill's allocation (an IP bill), from the kept store of its legacy row
    select ba.allocation_id into v_allocation_id
    from ops.legacy_kept as k
    join inpatient.bed_allocations as ba
        on ba.allocation_id = compat.billing_canonical('bed_allocations', k.attrs ->> 'bed_allocation_id', 'inpatient.bed_allocations')
       and ba.deleted_at is null
    where k.legacy_table = 'billing' and k.legacy_key = p_new ->> 'billing_id';

    v_qty := nullif((p_new ->> 'qty')::numeric, 'NaN');
    v_unit := nullif((p_new ->> 'unit_amount')::numeric, 'NaN');

    perform compat.billing_upsert_line(
        'billing_item', p_key, 'billing', p_new ->> 'billing_id',
        coalesce(etl.norm_key(v_kind), 'service'),
        v_qty, v_unit,
        coalesce(nullif((p_new ->> 'total_amount')::numeric, 'NaN'), v_qty * v_unit),
        p_new ->> 'description', p_new ->> 'medicine_id', p_new ->> 'ref_id',
        coalesce(etl.norm_key(p_new ->> 'batch_number') = 'external', false),
        (p_new ->> 'created_at')::timestamptz, v_allocation_id,
        'billing_id', 'qty', 'total_amount');
end
$$;
