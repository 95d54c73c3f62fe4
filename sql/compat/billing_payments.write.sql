-- compat write path: billing_payments -> billing.payments, with the rules of sql/billing/payments.sql
-- and etl.billing_payment_rows (sql/ddl/096_billing_helpers.sql), read from the canonical tables and
-- the provenance only. Shared lookups: sql/ddl/097_compat_billing.sql.
--   INSERT / UPDATE  upsert the payment etl.canonical_id('billing.payments', 'billing_payments', <id>):
--     invoice_id   the bill's invoice (billing_id through provenance);
--     method       ref.codes map:billing.payment_method of method ('gpay' is UPI; unmapped: NULL);
--     amount, received_at = paid_at, ref_no = reference (trimmed, blank -> NULL),
--     created_at as written (else paid_at);
--     then the invoice's paid_amount and status are re-derived (compat.billing_refresh_invoice), the
--     previous invoice's too when the payment moved.
--     Raises (the dispatcher quarantines the row, the invoice stays unpaid by it): ORPHAN_FK
--     (billing_id names no live bill), MISSING_VALUE (no amount), NEGATIVE_AMOUNT (a refund, Q19),
--     NOT_A_PAYMENT (method 'credit': an amount on account, Q20), ZERO_AMOUNT, OUT_OF_RANGE (amount).
--   DELETE  soft-deletes the payment and re-derives the invoice.
--   The rule is also the exception's CONSTRAINT name, so ops.quarantine.detail.constraint names it.
create or replace function compat.apply_billing_payments(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_payment_id uuid := etl.canonical_id('billing.payments', 'billing_payments', p_key);
    v_prev_invoice uuid;
    v_invoice_id uuid;
    v_amount numeric;
begin
    select p.invoice_id into v_prev_invoice
    from billing.payments as p
    where p.payment_id = v_payment_id and p.deleted_at is null;

    if p_op = 'DELETE' then
        update billing.payments set deleted_at = now(), updated_by = 'compat'
        where payment_id = v_payment_id and deleted_at is null;
        perform compat.billing_refresh_invoice(v_prev_invoice);
        return;
    end if;

    select i.invoice_id into v_invoice_id
    from billing.invoices as i
    where i.invoice_id = compat.billing_canonical('billing', p_new ->> 'billing_id', 'billing.invoices')
      and i.deleted_at is null;
    v_amount := nullif((p_new ->> 'amount')::numeric, 'NaN');

    if v_invoice_id is null then
        raise exception 'compat billing_payments: rule ORPHAN_FK, column billing_id: the payment''s bill is not loaded'
            using column = 'billing_id', constraint = 'ORPHAN_FK';
    elsif v_amount is null then
        raise exception 'compat billing_payments: rule MISSING_VALUE, column amount: the payment has no amount'
            using column = 'amount', constraint = 'MISSING_VALUE';
    elsif v_amount < 0 then
        raise exception 'compat billing_payments: rule NEGATIVE_AMOUNT, column amount: a refund is not a payment'
            using column = 'amount', constraint = 'NEGATIVE_AMOUNT';
    elsif etl.norm_key(p_new ->> 'method') = 'credit' then
        raise exception 'compat billing_payments: rule NOT_A_PAYMENT, column method: credit is an amount on account'
            using column = 'method', constraint = 'NOT_A_PAYMENT';
    elsif v_amount = 0 then
        raise exception 'compat billing_payments: rule ZERO_AMOUNT, column amount: a payment of nothing'
            using column = 'amount', constraint = 'ZERO_AMOUNT';
    elsif v_amount >= 10000000000 or v_amount <> round(v_amount, 2) then
        raise exception 'compat billing_payments: rule OUT_OF_RANGE, column amount: not an amount in paise'
            using column = 'amount', constraint = 'OUT_OF_RANGE';
    end if;

    insert into billing.payments as p (
        payment_id, invoice_id, method, amount, received_at, ref_no, created_at, created_by, updated_by
    )
    values (
        v_payment_id,
        v_invoice_id,
        compat.billing_method(p_new ->> 'method'),
        v_amount,
        (p_new ->> 'paid_at')::timestamptz,
        nullif(btrim(p_new ->> 'reference'), ''),
        coalesce((p_new ->> 'created_at')::timestamptz, (p_new ->> 'paid_at')::timestamptz, now()),
        'compat',
        'compat'
    )
    on conflict (payment_id) do update set
        invoice_id = excluded.invoice_id,
        method = excluded.method,
        amount = excluded.amount,
        received_at = excluded.received_at,
        ref_no = excluded.ref_no,
        created_at = excluded.created_at,
        updated_by = 'compat',
        deleted_at = null;

    perform compat.billing_provenance('billing_payments', p_key, 'billing.payments', v_payment_id);
    perform compat.billing_refresh_invoice(v_invoice_id);
    if v_prev_invoice is distinct from v_invoice_id then
        perform compat.billing_refresh_invoice(v_prev_invoice);
    end if;
end
$$;
