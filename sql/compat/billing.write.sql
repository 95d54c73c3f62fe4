-- compat write path: billing (a bill header) -> billing.invoices, with the rules of
-- sql/billing/invoices.sql and etl.billing_headers (sql/ddl/096_billing_helpers.sql), read from the
-- canonical tables and the provenance only. Shared helpers (the invoice upsert, its re-derivation):
-- sql/ddl/097_compat_billing.sql.
--   INSERT / UPDATE  upsert the invoice etl.canonical_id('billing.invoices', 'billing', <id>):
--     patient_id    the legacy patient's canonical patient (LOADED or MERGED); one that is not
--                   loaded or not live raises ORPHAN_FK (the bill is quarantined, as the backfill does);
--     admission_id / encounter_id  the admission of bed_allocation_id (through its canonical
--                   allocation) and its encounter, else the bill's own encounter (NULL when not loaded);
--     bill_type     ref.codes map:billing.bill_type of bill_type (NULL or unknown: OTHER);
--     buyer_type    STAFF_SELF for customer_type 'self', WALK_IN without a patient, else PATIENT;
--     invoice_no    bill_number trimmed, else bill_no; issued_at, created_at as written;
--     discount_amount = discount_amount, else discount; tax_amount = tax ("the amount wins", Q15);
--     legacy_attributes  the header's claims (bill_type, payment_status, payment_method at most 40
--                   characters; subtotal, total, amount_paid);
--     due_amount / paid_amount / status  re-derived from the invoice's live lines and payments
--                   (compat.billing_refresh_invoice): payment_status 'cancelled' -> VOID.
--     Raises (the dispatcher quarantines the row): ORPHAN_FK (patient_id), NEGATIVE_AMOUNT (the bill
--     amount subtotal - discount + tax is negative), FUTURE_DATE (issued more than an hour ahead).
--   DELETE  soft-deletes the invoice (status VOID, deleted_at) and any of its lines and their
--     charges still live; its payments stay (billing_payments has no FK to billing, Q19).
--   The rule is also the exception's CONSTRAINT name, so ops.quarantine.detail.constraint names it.
create or replace function compat.apply_billing(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_patient_id uuid;
    v_admission_id uuid;
    v_encounter_id uuid;
    v_bill_type text;
    v_issued_at timestamptz;
begin
    if p_op = 'DELETE' then
        perform compat.billing_delete_invoice(etl.canonical_id('billing.invoices', 'billing', p_key));
        return;
    end if;

    v_patient_id := compat.billing_patient('billing', 'patient_id', p_new ->> 'patient_id');

    if p_new ->> 'bed_allocation_id' is not null then
        select a.admission_id, a.encounter_id into v_admission_id, v_encounter_id
        from inpatient.bed_allocations as ba
        join inpatient.admissions as a on a.admission_id = ba.admission_id and a.deleted_at is null
        where ba.allocation_id = compat.billing_canonical('bed_allocations', p_new ->> 'bed_allocation_id',
                                                          'inpatient.bed_allocations')
          and ba.deleted_at is null;
    end if;
    if v_encounter_id is null and p_new ->> 'encounter_id' is not null then
        select e.encounter_id into v_encounter_id
        from clinical.encounters as e
        where e.encounter_id = compat.billing_canonical('encounter', p_new ->> 'encounter_id', 'clinical.encounters')
          and e.deleted_at is null;
    end if;

    select c.display into v_bill_type
    from ref.codes as c
    where c.system = 'map:billing.bill_type' and c.code = etl.norm_key(p_new ->> 'bill_type');
    v_issued_at := (p_new ->> 'issued_at')::timestamptz;

    perform compat.billing_upsert_invoice(
        'billing', p_key, v_patient_id, v_encounter_id, v_admission_id,
        coalesce(v_bill_type, 'OTHER'),
        case
            when etl.norm_key(p_new ->> 'customer_type') = 'self' then 'STAFF_SELF'
            when p_new ->> 'patient_id' is null then 'WALK_IN'
            else 'PATIENT'
        end,
        coalesce(nullif(btrim(p_new ->> 'bill_number'), ''), nullif(btrim(p_new ->> 'bill_no'), '')),
        v_issued_at,
        coalesce((p_new ->> 'created_at')::timestamptz, v_issued_at),
        nullif((p_new ->> 'subtotal')::numeric, 'NaN'),
        coalesce(nullif((p_new ->> 'discount_amount')::numeric, 'NaN'), nullif((p_new ->> 'discount')::numeric, 'NaN'), 0),
        coalesce(nullif((p_new ->> 'tax')::numeric, 'NaN'), 0),
        jsonb_build_object(
            'bill_type', left(p_new ->> 'bill_type', 40),
            'payment_status', left(p_new ->> 'payment_status', 40),
            'payment_method', left(p_new ->> 'payment_method', 40),
            'subtotal', nullif((p_new ->> 'subtotal')::numeric, 'NaN'),
            'total', nullif((p_new ->> 'total')::numeric, 'NaN'),
            'amount_paid', nullif((p_new ->> 'amount_paid')::numeric, 'NaN')),
        'issued_at', 'subtotal');
end
$$;
