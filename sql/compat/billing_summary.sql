-- compat view body: billing_summary. Grain: one row per legacy billing_summary row (a discharge
-- header, Q34) LOADED into a live billing.invoices row (ops.legacy_id_map; its one synthetic line,
-- the room charges, is a billing.charges row keyed by the same legacy id).
-- Sources: billing.invoices, billing.charges, ops.legacy_id_map, ops.legacy_kept (kept columns).
-- Values:
--   id             the legacy key;
--   bill_number    invoices.invoice_no;
--   subtotal       the total of the header's charge (1 x subtotal);
--   tax_amount / discount_amount  invoices.tax_amount / discount_amount (NULL when the kept
--                  percentage is NULL, as the legacy generated column is);
--   total_amount   the legacy generated expression over subtotal and the kept percentages
--                  (subtotal + subtotal x tax% / 100 - subtotal x discount% / 100, numeric(12,2));
--   created_at     invoices.created_at;
--   patient_admission_id (patient_admissions rows are MERGED into the admission: it cannot name
--   which), bill_date (a DRAFT invoice has no issued_at), tax_percentage, discount_percentage,
--   payment_status, payment_method, payment_date, notes, updated_at: from the kept store.
-- Normalisations: bill_number trimmed; a NULL created_at shows bill_date.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing_summary'
      and m.canonical_table = 'billing.invoices'
      and m.disposition in ('LOADED', 'MERGED')
),

invoices as (
    select i.invoice_id, i.invoice_no, i.tax_amount, i.discount_amount, i.created_at
    from billing.invoices as i
    where i.deleted_at is null
),

charge_provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing_summary'
      and m.canonical_table = 'billing.charges'
),

charges as (
    select c.charge_id, c.total
    from billing.charges as c
    where c.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'billing_summary'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'patient_admission_id' as patient_admission_id,
        i.invoice_no as bill_number,
        k.attrs ->> 'bill_date' as bill_date,
        c.total as subtotal,
        k.attrs ->> 'tax_percentage' as tax_percentage,
        case when k.attrs ->> 'tax_percentage' is not null then i.tax_amount end as tax_amount,
        k.attrs ->> 'discount_percentage' as discount_percentage,
        case when k.attrs ->> 'discount_percentage' is not null then i.discount_amount end as discount_amount,
        (c.total + c.total * (k.attrs ->> 'tax_percentage')::numeric / 100
         - c.total * (k.attrs ->> 'discount_percentage')::numeric / 100)::numeric(12,2) as total_amount,
        k.attrs ->> 'payment_status' as payment_status,
        k.attrs ->> 'payment_method' as payment_method,
        k.attrs ->> 'payment_date' as payment_date,
        k.attrs ->> 'notes' as notes,
        i.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join invoices as i on i.invoice_id = p.canonical_id
    left join charge_provenance as cp on cp.legacy_key = p.legacy_key
    left join charges as c on c.charge_id = cp.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
