-- compat view body: billing_item. Grain: one row per legacy billing_item row LOADED into a live
-- billing.charges row (ops.legacy_id_map; the row is also LOADED into billing.invoice_lines).
-- Sources: billing.charges (qty, unit price, total), billing.invoice_lines (the invoice of the
-- line), ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept (kept columns).
-- Values:
--   id           the legacy key;
--   billing_id   the line's invoice back to its legacy billing id (LOADED);
--   qty          charges.qty without trailing zeros (numeric(12,3) -> the legacy unconstrained
--                numeric);
--   unit_amount  charges.unit_price; total_amount charges.total (qty x unit_price);
--   created_at   charges.created_at;
--   line_type_id, ref_id, description, medicine_id, batch_id, batch_number, expiry_date,
--   updated_at: from the kept store, as written.
-- Normalisations: a line whose qty x unit_amount disagreed with its total_amount loaded as qty 1 x
-- total (ENCODING_CONFLICT, the amount column wins, Q15) and shows so; a NULL total_amount shows
-- qty x unit_amount; a NULL qty shows 1.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = '@table@'
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
    where m.legacy_table = '@table@'
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
    where k.legacy_table = '@table@'
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
