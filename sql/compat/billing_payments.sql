-- compat view body: billing_payments. Grain: one row per legacy billing_payments row LOADED into a
-- live billing.payments row (ops.legacy_id_map). Rows that are not payments ('credit', refunds,
-- zero or orphan rows) were quarantined and come from the archive (the wrapper).
-- Sources: billing.payments, ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept
-- (kept columns).
-- Values:
--   id           the legacy key;
--   billing_id   the payment's invoice back to its legacy billing id (LOADED);
--   amount       payments.amount;
--   method       payments.method in lower case (CASH -> cash; the codes of the legacy
--                vocabulary are its words);
--   reference    payments.ref_no; paid_at payments.received_at; created_at payments.created_at;
--   received_by, updated_at: from the kept store.
-- Normalisations: reference trimmed (blank -> NULL); a method outside the legacy vocabulary shows
-- its mapped code ('gpay' -> 'upi'; unmapped -> NULL).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing_payments'
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
    where m.legacy_table = 'billing' and m.canonical_table = 'billing.invoices' and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'billing_payments'
),

final as (
    select
        p.legacy_key as id,
        bk.legacy_key as billing_id,
        y.amount,
        lower(y.method) as method,
        y.ref_no as reference,
        y.received_at as paid_at,
        k.attrs ->> 'received_by' as received_by,
        y.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join payments as y on y.payment_id = p.canonical_id
    left join bill_keys as bk on bk.invoice_id = y.invoice_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
