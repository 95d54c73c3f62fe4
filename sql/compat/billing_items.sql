-- compat view body: billing_items. Live, it is a view over billing_item (SELECT *, App. C #6); in
-- the blueprint profile a table of copies of billing_item rows, each MERGED into the charge and the
-- invoice line of the billing_item row it copies (rule COPY; sql/billing/charges.sql,
-- invoice_lines.sql). Grain: one row per legacy billing_items row MERGED (or LOADED) into a live
-- billing.charges row (ops.legacy_id_map).
-- Sources: billing.charges, billing.invoice_lines, ops.legacy_id_map, ops.legacy_kept (the copy's
-- own kept columns).
-- Values: as sql/compat/billing_item.sql: id the legacy key; billing_id the line's invoice back to
-- its legacy billing id; qty / unit_amount / total_amount / created_at from the charge (the survivor's
-- values); line_type_id, ref_id, description, medicine_id, batch_id, batch_number, expiry_date,
-- updated_at from the kept store.
-- Normalisations: those of billing_item (ENCODING_CONFLICT lines show 1 x total; a NULL total shows
-- qty x unit_amount); a copy whose values drifted from its original shows the original's mapped
-- values (the survivor's).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing_items'
      and m.canonical_table = 'billing.charges'
      and m.disposition in ('LOADED', 'MERGED')
),

charges as (
    select c.charge_id, c.qty, c.unit_price, c.total, c.created_at
    from billing.charges as c
    where c.deleted_at is null
),

line_provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'billing_items'
      and m.canonical_table = 'billing.invoice_lines'
),

lines as (
    select l.line_id, l.invoice_id
    from billing.invoice_lines as l
    where l.deleted_at is null
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
    where k.legacy_table = 'billing_items'
),

final as (
    select
        p.legacy_key as id,
        bk.legacy_key as billing_id,
        k.attrs ->> 'line_type_id' as line_type_id,
        k.attrs ->> 'ref_id' as ref_id,
        k.attrs ->> 'description' as description,
        trim_scale(c.qty) as qty,
        c.unit_price as unit_amount,
        c.total as total_amount,
        k.attrs ->> 'medicine_id' as medicine_id,
        k.attrs ->> 'batch_id' as batch_id,
        k.attrs ->> 'batch_number' as batch_number,
        k.attrs ->> 'expiry_date' as expiry_date,
        c.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join charges as c on c.charge_id = p.canonical_id
    left join line_provenance as lp on lp.legacy_key = p.legacy_key
    left join lines as l on l.line_id = lp.canonical_id
    left join bill_keys as bk on bk.invoice_id = l.invoice_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
