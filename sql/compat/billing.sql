-- compat view body: billing. Grain: one row per legacy billing row LOADED into a live
-- billing.invoices row (ops.legacy_id_map; a bill header is never merged).
-- Sources: billing.invoices, ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept
-- (kept columns).
-- Values:
--   id           the legacy key;
--   patient_id   the invoice's patient back to its legacy patients id (LOADED: a MERGED duplicate
--                patient shows its survivor's id); NULL for a walk-in;
--   bill_number  invoices.invoice_no (the transform took bill_number trimmed, else bill_no);
--   tax          invoices.tax_amount (coalesce(tax, 0): tax is NOT NULL in legacy, so exact);
--   issued_at, created_at  the invoice's;
--   every other column from the kept store, as written: the header's own money claims (subtotal,
--   discount*, total, amount_paid, balance_due, the GST halves), its words (bill_type,
--   payment_status, payment_method, customer_type), the buyer snapshot, encounter_id and
--   bed_allocation_id (the invoice holds the admission's encounter and the admission, which do not
--   invert), the attachment and edit columns, updated_at.
-- Normalisations: a merged duplicate patient answers with the survivor's id; bill_number is
-- trimmed and falls back to bill_no when NULL/blank; numeric tax shows scale 2.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing'
      and m.canonical_table = 'billing.invoices'
      and m.disposition in ('LOADED', 'MERGED')
),

invoices as (
    select i.*
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
    where k.legacy_table = 'billing'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'encounter_id' as encounter_id,
        pk.legacy_key as patient_id,
        k.attrs ->> 'bill_no' as bill_no,
        k.attrs ->> 'currency' as currency,
        k.attrs ->> 'subtotal' as subtotal,
        k.attrs ->> 'discount' as discount,
        i.tax_amount as tax,
        k.attrs ->> 'total' as total,
        k.attrs ->> 'status_id' as status_id,
        i.issued_at,
        i.created_at,
        k.attrs ->> 'updated_at' as updated_at,
        k.attrs ->> 'discount_type' as discount_type,
        k.attrs ->> 'discount_value' as discount_value,
        k.attrs ->> 'tax_percent' as tax_percent,
        k.attrs ->> 'customer_name' as customer_name,
        k.attrs ->> 'customer_phone' as customer_phone,
        k.attrs ->> 'customer_type' as customer_type,
        k.attrs ->> 'payment_method' as payment_method,
        k.attrs ->> 'payment_status' as payment_status,
        i.invoice_no as bill_number,
        k.attrs ->> 'amount_paid' as amount_paid,
        k.attrs ->> 'balance_due' as balance_due,
        k.attrs ->> 'staff_id' as staff_id,
        k.attrs ->> 'payment_attachment_url' as payment_attachment_url,
        k.attrs ->> 'payment_attachment_name' as payment_attachment_name,
        k.attrs ->> 'payment_attachment_uploaded_at' as payment_attachment_uploaded_at,
        k.attrs ->> 'payment_attachment_uploaded_by' as payment_attachment_uploaded_by,
        k.attrs ->> 'edited_at' as edited_at,
        k.attrs ->> 'edited_by' as edited_by,
        k.attrs ->> 'edit_count' as edit_count,
        k.attrs ->> 'advance_amount' as advance_amount,
        k.attrs ->> 'bed_allocation_id' as bed_allocation_id,
        k.attrs ->> 'bill_type' as bill_type,
        k.attrs ->> 'cgst_amount' as cgst_amount,
        k.attrs ->> 'sgst_amount' as sgst_amount,
        k.attrs ->> 'igst_amount' as igst_amount,
        k.attrs ->> 'customer_gstin' as customer_gstin,
        k.attrs ->> 'discount_amount' as discount_amount,
        k.attrs ->> 'doctor_id' as doctor_id,
        k.attrs ->> 'is_free_bill' as is_free_bill,
        k.attrs ->> 'self_bill_type' as self_bill_type
    from provenance as p
    join invoices as i on i.invoice_id = p.canonical_id
    left join patient_keys as pk on pk.patient_id = i.patient_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
