-- compat view body: pharmacy_bill_items. Grain: one row per legacy pharmacy_bill_items row LOADED
-- into a live billing.charges row (ops.legacy_id_map; the row is also LOADED into
-- billing.invoice_lines).
-- Sources: billing.charges, ops.legacy_id_map, ops.legacy_kept (kept columns).
-- Values:
--   id           the legacy key;
--   created_at   charges.created_at (the line's, else its bill's);
--   from the kept store, as written: the paired parent keys bill_id / billing_id, drug keys
--   medicine_id / medication_id and totals total_amount / total_price (each row fills one of a
--   pair, Q5/Q13: the charge cannot say which), batch_id, batch_number, expiry_date,
--   medication_name, discount_percentage, quantity and unit_price (the pharmacy line totals carry
--   tax and discount, so the charge is 1 x total: ENCODING_CONFLICT, the amount wins, Q15).
-- Normalisations: a NULL created_at shows its bill's.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'pharmacy_bill_items'
      and m.canonical_table = 'billing.charges'
      and m.disposition in ('LOADED', 'MERGED')
),

charges as (
    select c.charge_id, c.created_at
    from billing.charges as c
    where c.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'pharmacy_bill_items'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'bill_id' as bill_id,
        k.attrs ->> 'billing_id' as billing_id,
        k.attrs ->> 'medicine_id' as medicine_id,
        k.attrs ->> 'medication_id' as medication_id,
        k.attrs ->> 'batch_id' as batch_id,
        k.attrs ->> 'batch_number' as batch_number,
        k.attrs ->> 'expiry_date' as expiry_date,
        k.attrs ->> 'quantity' as quantity,
        k.attrs ->> 'unit_price' as unit_price,
        k.attrs ->> 'total_amount' as total_amount,
        k.attrs ->> 'total_price' as total_price,
        k.attrs ->> 'medication_name' as medication_name,
        k.attrs ->> 'discount_percentage' as discount_percentage,
        c.created_at
    from provenance as p
    join charges as c on c.charge_id = p.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
