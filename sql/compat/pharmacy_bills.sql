-- compat view body: pharmacy_bills. Grain: one row per legacy pharmacy_bills row LOADED into a live
-- billing.invoices row (ops.legacy_id_map; its header payment '<id>#payment' is a billing.payments
-- row of the same invoice and is not a row here).
-- Sources: billing.invoices, ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept
-- (kept columns).
-- Values:
--   id           the legacy key;
--   bill_number  invoices.invoice_no (trimmed by the transform);
--   patient_id   the invoice's patient back to its legacy patients id (LOADED: a MERGED duplicate
--                patient shows its survivor's id); NULL for a walk-in (Q16);
--   created_at   invoices.created_at;
--   every other column from the kept store, as written: the four discount and four tax encodings
--   (Q15: the invoice holds only the winning amount), the header totals (subtotal, total_amount,
--   net/paid/balance_amount), the buyer snapshot (patient_name, customer_*), payment words,
--   status, billing_type, prescription_uuid, notes, created_by, bill_date (issued_at is created_at,
--   else bill_date), updated_at.
-- Normalisations: a merged duplicate patient answers with the survivor's id; bill_number trimmed.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'pharmacy_bills'
      and m.canonical_table = 'billing.invoices'
      and m.disposition in ('LOADED', 'MERGED')
),

invoices as (
    select i.invoice_id, i.patient_id, i.invoice_no, i.created_at
    from billing.invoices as i
    where i.deleted_at is null
),

patient_keys as (
    select distinct on (m.canonical_id) m.canonical_id as patient_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'patients' and m.canonical_table = 'core.patients' and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'pharmacy_bills'
),

final as (
    select
        p.legacy_key as id,
        i.invoice_no as bill_number,
        pk.legacy_key as patient_id,
        k.attrs ->> 'patient_name' as patient_name,
        k.attrs ->> 'customer_name' as customer_name,
        k.attrs ->> 'customer_phone' as customer_phone,
        k.attrs ->> 'customer_address' as customer_address,
        k.attrs ->> 'customer_gstin' as customer_gstin,
        k.attrs ->> 'subtotal' as subtotal,
        k.attrs ->> 'discount' as discount,
        k.attrs ->> 'discount_percent' as discount_percent,
        k.attrs ->> 'discount_amount' as discount_amount,
        k.attrs ->> 'discount_percentage' as discount_percentage,
        k.attrs ->> 'tax' as tax,
        k.attrs ->> 'tax_amount' as tax_amount,
        k.attrs ->> 'tax_rate' as tax_rate,
        k.attrs ->> 'gst_amount' as gst_amount,
        k.attrs ->> 'cgst_amount' as cgst_amount,
        k.attrs ->> 'sgst_amount' as sgst_amount,
        k.attrs ->> 'igst_amount' as igst_amount,
        k.attrs ->> 'total_amount' as total_amount,
        k.attrs ->> 'net_amount' as net_amount,
        k.attrs ->> 'paid_amount' as paid_amount,
        k.attrs ->> 'balance_amount' as balance_amount,
        k.attrs ->> 'payment_method' as payment_method,
        k.attrs ->> 'payment_status' as payment_status,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'billing_type' as billing_type,
        k.attrs ->> 'prescription_uuid' as prescription_uuid,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'created_by' as created_by,
        k.attrs ->> 'bill_date' as bill_date,
        i.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join invoices as i on i.invoice_id = p.canonical_id
    left join patient_keys as pk on pk.patient_id = i.patient_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
