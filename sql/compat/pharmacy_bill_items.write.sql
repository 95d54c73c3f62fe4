-- compat write path: pharmacy_bill_items (PharmacyBillingForm's bill line) -> billing.charges +
-- billing.invoice_lines, with the rules of sql/billing/charges.sql, invoice_lines.sql and
-- etl.billing_lines (sql/ddl/096_billing_helpers.sql). Shared helper: compat.billing_upsert_line
-- (sql/ddl/097_compat_billing.sql).
--   INSERT / UPDATE  the line of the pharmacy_bills row bill_id, else billing_id (Q5); kind medicine
--     (fee DERIVED.PHARMACY_DISPENSING); amount = total_amount, else total_price, else quantity x
--     unit_price; the drug medicine_id, else medication_id (the line's description is its drug master
--     name unless batch_number is 'EXTERNAL'); then the invoice is re-derived.
--     Raises (the dispatcher quarantines the row): ORPHAN_FK (bill_id), MISSING_VALUE /
--     NEGATIVE_AMOUNT / OUT_OF_RANGE (total_amount), ZERO_QTY (quantity); the rule is also the
--     exception's CONSTRAINT name.
--   DELETE  soft-deletes the charge and the line and re-derives the invoice.
create or replace function compat.apply_pharmacy_bill_items(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_qty numeric;
    v_unit numeric;
begin
    if p_op = 'DELETE' then
        perform compat.billing_delete_line('pharmacy_bill_items', p_key);
        return;
    end if;

    v_qty := (p_new ->> 'quantity')::numeric;
    v_unit := nullif((p_new ->> 'unit_price')::numeric, 'NaN');

    perform compat.billing_upsert_line(
        'pharmacy_bill_items', p_key, 'pharmacy_bills', coalesce(p_new ->> 'bill_id', p_new ->> 'billing_id'),
        'medicine', v_qty, v_unit,
        coalesce(nullif((p_new ->> 'total_amount')::numeric, 'NaN'), nullif((p_new ->> 'total_price')::numeric, 'NaN'), v_qty * v_unit),
        p_new ->> 'medication_name', coalesce(p_new ->> 'medicine_id', p_new ->> 'medication_id'), null,
        coalesce(etl.norm_key(p_new ->> 'batch_number') = 'external', false),
        (p_new ->> 'created_at')::timestamptz, null,
        'bill_id', 'quantity', 'total_amount');
end
$$;
