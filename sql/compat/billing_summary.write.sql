-- compat write path: billing_summary (a discharge header, Q34) -> billing.invoices (DISCHARGE) and its
-- one line, the room charges (billing.charges + billing.invoice_lines keyed by the header's own id),
-- with the rules of sql/billing/invoices.sql, charges.sql and etl.billing_headers / billing_lines
-- (sql/ddl/096_billing_helpers.sql). Shared helpers: sql/ddl/097_compat_billing.sql.
--   INSERT / UPDATE
--     admission    the inpatient.admissions row the patient_admissions row was merged into (live);
--                  its encounter, and that encounter's patient; none raises ORPHAN_FK
--                  (patient_admission_id), as the backfill quarantines a header without its admission;
--     invoice      bill_type DISCHARGE, buyer_type PATIENT, invoice_no bill_number trimmed,
--                  discount_amount / tax_amount the legacy generated amounts (0 when NULL),
--                  issued_at bill_date, else created_at (NULL while the invoice is a DRAFT: a
--                  discharge header without payments), created_at created_at, else bill_date;
--                  legacy_attributes payment_status, payment_method, subtotal, total (total_amount);
--     line         kind room (fee DERIVED.ROOM_CHARGES), 1 x subtotal;
--     Raises (the dispatcher quarantines the row): ORPHAN_FK (patient_admission_id), NEGATIVE_AMOUNT
--     (subtotal), FUTURE_DATE (bill_date), MISSING_VALUE (subtotal); the rule is also the
--     exception's CONSTRAINT name.
--   DELETE  soft-deletes the invoice, its line and charge.
create or replace function compat.apply_billing_summary(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_invoice_id uuid := etl.canonical_id('billing.invoices', 'billing_summary', p_key);
    v_admission_id uuid;
    v_encounter_id uuid;
    v_patient_id uuid;
    v_subtotal numeric;
begin
    if p_op = 'DELETE' then
        perform compat.billing_delete_invoice(v_invoice_id);
        return;
    end if;

    select a.admission_id, a.encounter_id, e.patient_id into v_admission_id, v_encounter_id, v_patient_id
    from inpatient.admissions as a
    left join clinical.encounters as e on e.encounter_id = a.encounter_id and e.deleted_at is null
    where a.admission_id = compat.billing_canonical('patient_admissions', p_new ->> 'patient_admission_id', 'inpatient.admissions')
      and a.deleted_at is null;
    if v_admission_id is null or v_patient_id is null then
        raise exception 'compat billing_summary: rule ORPHAN_FK, column patient_admission_id: the admission or its patient is not loaded'
            using column = 'patient_admission_id', constraint = 'ORPHAN_FK';
    end if;

    v_subtotal := nullif((p_new ->> 'subtotal')::numeric, 'NaN');
    perform compat.billing_upsert_invoice(
        'billing_summary', p_key, v_patient_id, v_encounter_id, v_admission_id, 'DISCHARGE', 'PATIENT',
        nullif(btrim(p_new ->> 'bill_number'), ''),
        coalesce((p_new ->> 'bill_date')::timestamptz, (p_new ->> 'created_at')::timestamptz),
        coalesce((p_new ->> 'created_at')::timestamptz, (p_new ->> 'bill_date')::timestamptz),
        v_subtotal,
        coalesce(nullif((p_new ->> 'discount_amount')::numeric, 'NaN'), 0),
        coalesce(nullif((p_new ->> 'tax_amount')::numeric, 'NaN'), 0),
        jsonb_build_object(
            'payment_status', left(p_new ->> 'payment_status', 40),
            'payment_method', left(p_new ->> 'payment_method', 40),
            'subtotal', v_subtotal,
            'total', nullif((p_new ->> 'total_amount')::numeric, 'NaN')),
        'bill_date', 'subtotal');

    perform compat.billing_upsert_line(
        'billing_summary', p_key, 'billing_summary', p_key, 'room', 1, v_subtotal, v_subtotal, null, null, null, false,
        coalesce((p_new ->> 'created_at')::timestamptz, (p_new ->> 'bill_date')::timestamptz), null,
        'id', 'subtotal', 'subtotal');

    -- a DRAFT (no payment yet) has no issue time (sql/billing/invoices.sql)
    update billing.invoices set issued_at = null where invoice_id = v_invoice_id and status = 'DRAFT' and issued_at is not null;
end
$$;
