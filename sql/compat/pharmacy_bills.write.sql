-- compat write path: pharmacy_bills (PharmacyBillingForm's bill header) -> billing.invoices and its
-- one header payment, with the rules of sql/billing/invoices.sql, payments.sql and
-- etl.billing_headers / etl.billing_payment_rows (sql/ddl/096_billing_helpers.sql), read from the
-- canonical tables and the provenance only. Shared helpers: sql/ddl/097_compat_billing.sql.
--   INSERT / UPDATE  upsert the invoice etl.canonical_id('billing.invoices', 'pharmacy_bills', <id>):
--     bill_type PHARMACY; buyer_type WALK_IN without a patient, else PATIENT; invoice_no bill_number
--     trimmed; issued_at = created_at = created_at, else bill_date;
--     discount_amount = discount_amount, else discount; tax_amount = tax_amount, else tax, else
--     gst_amount, else cgst + sgst + igst ("the amount wins", Q15);
--     legacy_attributes: billing_type, payment_status, payment_method (at most 40 characters),
--     subtotal, total (total_amount), amount_paid (paid_amount);
--   and the header's payment '<id>#payment' (the form keeps no payment rows): paid_amount when it is
--   a payment (not 0 / NULL), method payment_method (ref.codes map:billing.payment_method),
--   received_at = issued_at. A paid_amount that is no payment ('credit', negative, beyond
--   numeric(12,2)) soft-deletes any earlier payment and is recorded in ops.quarantine for
--   billing.payments (NOT_A_PAYMENT / NEGATIVE_AMOUNT / OUT_OF_RANGE, the amount in detail), as the
--   backfill does; the header itself loads. Then the invoice is re-derived.
--     Raises (the dispatcher quarantines the bill): ORPHAN_FK (patient_id), NEGATIVE_AMOUNT
--     (subtotal), FUTURE_DATE (created_at); the rule is also the exception's CONSTRAINT name.
--   DELETE  soft-deletes the invoice, its lines and charges and its header payment.
create or replace function compat.apply_pharmacy_bills(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_invoice_id uuid := etl.canonical_id('billing.invoices', 'pharmacy_bills', p_key);
    v_pay_key text := p_key || '#payment';
    v_payment_id uuid := etl.canonical_id('billing.payments', 'pharmacy_bills', p_key || '#payment');
    v_issued_at timestamptz;
    v_paid numeric;
    v_reason text;
begin
    if p_op = 'DELETE' then
        update billing.payments set deleted_at = now(), updated_by = 'compat'
        where payment_id = v_payment_id and deleted_at is null;
        perform compat.billing_delete_invoice(v_invoice_id);
        return;
    end if;

    v_issued_at := coalesce((p_new ->> 'created_at')::timestamptz, etl.date_ts((p_new ->> 'bill_date')::date));

    perform compat.billing_upsert_invoice(
        'pharmacy_bills', p_key,
        compat.billing_patient('pharmacy_bills', 'patient_id', p_new ->> 'patient_id'),
        null, null, 'PHARMACY',
        case when p_new ->> 'patient_id' is null then 'WALK_IN' else 'PATIENT' end,
        nullif(btrim(p_new ->> 'bill_number'), ''),
        v_issued_at, v_issued_at,
        nullif((p_new ->> 'subtotal')::numeric, 'NaN'),
        coalesce(nullif((p_new ->> 'discount_amount')::numeric, 'NaN'), nullif((p_new ->> 'discount')::numeric, 'NaN'), 0),
        coalesce(nullif((p_new ->> 'tax_amount')::numeric, 'NaN'), nullif((p_new ->> 'tax')::numeric, 'NaN'),
                 nullif((p_new ->> 'gst_amount')::numeric, 'NaN'),
                 case when num_nonnulls(nullif((p_new ->> 'cgst_amount')::numeric, 'NaN'), nullif((p_new ->> 'sgst_amount')::numeric, 'NaN'),
                                        nullif((p_new ->> 'igst_amount')::numeric, 'NaN')) > 0
                      then coalesce(nullif((p_new ->> 'cgst_amount')::numeric, 'NaN'), 0)
                           + coalesce(nullif((p_new ->> 'sgst_amount')::numeric, 'NaN'), 0)
                           + coalesce(nullif((p_new ->> 'igst_amount')::numeric, 'NaN'), 0) end,
                 0),
        jsonb_build_object(
            'bill_type', left(p_new ->> 'billing_type', 40),
            'payment_status', left(p_new ->> 'payment_status', 40),
            'payment_method', left(p_new ->> 'payment_method', 40),
            'subtotal', nullif((p_new ->> 'subtotal')::numeric, 'NaN'),
            'total', nullif((p_new ->> 'total_amount')::numeric, 'NaN'),
            'amount_paid', nullif((p_new ->> 'paid_amount')::numeric, 'NaN')),
        'created_at', 'subtotal');

    -- the header's payment
    v_paid := nullif((p_new ->> 'paid_amount')::numeric, 'NaN');
    v_reason := case
        when v_paid is null or v_paid = 0 then 'NONE'
        when etl.norm_key(p_new ->> 'payment_method') = 'credit' then 'NOT_A_PAYMENT'
        when v_paid < 0 then 'NEGATIVE_AMOUNT'
        when v_paid >= 10000000000 or v_paid <> round(v_paid, 2) then 'OUT_OF_RANGE'
    end;
    if v_reason is not null then
        update billing.payments set deleted_at = now(), updated_by = 'compat'
        where payment_id = v_payment_id and deleted_at is null;
        if v_reason <> 'NONE' then
            insert into ops.quarantine as q (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
            values ('pharmacy_bills', v_pay_key, 'billing.payments', v_reason,
                    jsonb_build_object('column', case v_reason when 'NOT_A_PAYMENT' then 'payment_method' else 'paid_amount' end,
                                       'rule', 'the header''s paid amount is no payment', 'amount', v_paid),
                    'compat')
            on conflict (legacy_table, legacy_key, target_table, reason_code)
            do update set detail = excluded.detail, last_seen_at = now(), resolved_at = null, run_id = 'compat';
        end if;
    else
        insert into billing.payments as y (
            payment_id, invoice_id, method, amount, received_at, ref_no, created_at, created_by, updated_by
        )
        values (
            v_payment_id, v_invoice_id, compat.billing_method(p_new ->> 'payment_method'), v_paid, v_issued_at, null,
            coalesce((p_new ->> 'created_at')::timestamptz, v_issued_at, now()), 'compat', 'compat'
        )
        on conflict (payment_id) do update set
            invoice_id = excluded.invoice_id,
            method = excluded.method,
            amount = excluded.amount,
            received_at = excluded.received_at,
            created_at = excluded.created_at,
            updated_by = 'compat',
            deleted_at = null;
        perform compat.billing_provenance('pharmacy_bills', v_pay_key, 'billing.payments', v_payment_id);
    end if;
    update ops.quarantine as q
    set resolved_at = now()
    where q.legacy_table = 'pharmacy_bills' and q.legacy_key = v_pay_key and q.target_table = 'billing.payments'
      and q.resolved_at is null and q.reason_code is distinct from v_reason;

    perform compat.billing_refresh_invoice(v_invoice_id);
end
$$;
