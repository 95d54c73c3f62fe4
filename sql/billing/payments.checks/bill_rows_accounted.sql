-- Every legacy bill header, line and payment row is loaded, merged as a copy, or quarantined: per
-- legacy table, expected = its live staged rows, actual = those with a live billing row in
-- ops.legacy_id_map (LOADED or MERGED into charges, invoices, invoice lines or payments) or an open
-- billing quarantine entry. Subject: the legacy table.
with staged as (
    select 'billing'::text as legacy_table, s._key from stg.billing as s where not s._deleted
    union all select 'billing_item', s._key from stg.billing_item as s where not s._deleted
    union all select 'billing_items', s._key from stg.billing_items as s where not s._deleted
    union all select 'pharmacy_bills', s._key from stg.pharmacy_bills as s where not s._deleted
    union all select 'pharmacy_bill_items', s._key from stg.pharmacy_bill_items as s where not s._deleted
    union all select 'pharmacy_billing', s._key from stg.pharmacy_billing as s where not s._deleted
    union all select 'pharmacy_billing_items', s._key from stg.pharmacy_billing_items as s where not s._deleted
    union all select 'billing_summary', s._key from stg.billing_summary as s where not s._deleted
    union all select 'billing_payments', s._key from stg.billing_payments as s where not s._deleted
    union all select 'payment_ledger', s._key from stg.payment_ledger as s where not s._deleted
    union all select 'payment_history', s._key from stg.payment_history as s where not s._deleted
),

live as (
    select c.charge_id as id from billing.charges as c where c.deleted_at is null
    union all select i.invoice_id from billing.invoices as i where i.deleted_at is null
    union all select l.line_id from billing.invoice_lines as l where l.deleted_at is null
    union all select p.payment_id from billing.payments as p where p.deleted_at is null
),

mapped as (
    select distinct m.legacy_table, split_part(m.legacy_key, '#', 1) as key
    from ops.legacy_id_map as m
    join live as l on l.id = m.canonical_id
    where m.canonical_table in ('billing.charges', 'billing.invoices', 'billing.invoice_lines', 'billing.payments')
),

quarantined as (
    select distinct q.legacy_table, split_part(q.legacy_key, '#', 1) as key
    from ops.quarantine as q
    where q.resolved_at is null and q.target_table like 'billing.%'
)

select
    s.legacy_table as subject,
    count(*)::numeric as expected,
    count(*) filter (where m.key is not null or q.key is not null)::numeric as actual
from staged as s
left join mapped as m on m.legacy_table = s.legacy_table and m.key = s._key
left join quarantined as q on q.legacy_table = s.legacy_table and q.key = s._key
group by s.legacy_table
