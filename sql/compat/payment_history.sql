-- compat view body: payment_history. Live, a view over payment_ledger (App. C #2, #14); in the
-- blueprint profile a table of the same shape. Its rows that copy a billing_payments row (the
-- 2026-02-15 backfill, Q21) are MERGED into that row's billing.payments row (rule COPY,
-- sql/billing/payments.sql); a ledger row that is a payment of its own is LOADED. Grain: one row per
-- legacy payment_history row LOADED or MERGED into a live billing.payments row. Rows of sources
-- outside the fixture (ORPHAN_FK) and copies of rows that are no payment (DUPLICATE) come from the
-- archive (the wrapper).
-- Sources: billing.payments, ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept
-- (kept columns).
-- Values:
--   id                 the legacy key;
--   source_id          the payment's invoice back to the legacy id of its bill (billing,
--                      pharmacy_bills, pharmacy_billing or billing_summary; LOADED);
--   payment_date       payments.received_at; amount payments.amount;
--   payment_method     payments.method in lower case;
--   reference_number   payments.ref_no;
--   source_type, patient_id (the ledger's own claim: not always the patient of the bill it names),
--   receipt_number, cgst/sgst/igst_amount, notes, created_by, created_at, updated_at,
--   deleted_at: from the kept store, as written.
-- Normalisations: reference_number trimmed (blank -> NULL); payment_method neft / rtgs / online
-- show bank_transfer and gpay upi; a copy shows its original billing_payments row's mapped values
-- (source_id, payment_date, amount, payment_method, reference_number) where it drifted from them.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = '@table@'
      and m.canonical_table = 'billing.payments'
      and m.disposition in ('LOADED', 'MERGED')
),

payments as (
    select p.*
    from billing.payments as p
    where p.deleted_at is null
),

bill_keys as (
    select distinct on (m.canonical_id) m.canonical_id as invoice_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.canonical_table = 'billing.invoices' and m.disposition = 'LOADED'
      and m.legacy_table in ('billing', 'pharmacy_bills', 'pharmacy_billing', 'billing_summary')
    order by m.canonical_id, m.legacy_table, m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = '@table@'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'source_type' as source_type,
        bk.legacy_key as source_id,
        k.attrs ->> 'patient_id' as patient_id,
        y.received_at as payment_date,
        y.amount,
        lower(y.method) as payment_method,
        y.ref_no as reference_number,
        k.attrs ->> 'receipt_number' as receipt_number,
        k.attrs ->> 'cgst_amount' as cgst_amount,
        k.attrs ->> 'sgst_amount' as sgst_amount,
        k.attrs ->> 'igst_amount' as igst_amount,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'created_by' as created_by,
        k.attrs ->> 'created_at' as created_at,
        k.attrs ->> 'updated_at' as updated_at,
        k.attrs ->> 'deleted_at' as deleted_at
    from provenance as p
    join payments as y on y.payment_id = p.canonical_id
    left join bill_keys as bk on bk.invoice_id = y.invoice_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
