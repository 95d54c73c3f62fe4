-- compat view body: medicine_batches. Grain: one row per legacy medicine_batches row LOADED into a
-- live pharmacy.batches row (ops.legacy_id_map, canonical_table pharmacy.batches; the batch's
-- ledger rows '<id>#opening' / '#adjust-<n>' share the legacy table and are not rows here).
-- Sources: pharmacy.batches, pharmacy.inventory_txns (the immutable ledger: the quantity on hand),
-- ops.legacy_kept (kept columns).
-- Units (Q9): a batch received before pharmacy.pack_cutover() counted packs in legacy; the ledger
-- holds units (packs x the pack size of its notes) unless the pack size is unknown (unit 'pack').
-- The legacy count is the canonical quantity divided by that factor (pack size when received before
-- the cut-over and known, else 1), as sql/pharmacy/batches.sql and inventory_txns.sql multiplied.
-- Values:
--   id                 the legacy key;
--   batch_number       pharmacy.batches.batch_no (pharmacy.clean_text: blanks collapsed, trimmed);
--   expiry_date        pharmacy.batches.expiry;
--   received_date      pharmacy.batches.received_on (the transform fills a missing receipt date
--                      with the local day of created_at: such a batch shows that day);
--   received_quantity  pharmacy.batches.initial_qty / factor (a negative legacy one loaded NULL);
--   current_quantity   the batch's ledger sum / factor: opening balance + movements + adjustments
--                      (so a sale posted through stock_transactions shows at once);
--   quantity           the legacy generated column: coalesce(current_quantity, 0);
--   created_at         pharmacy.batches.created_at;
--   medicine_id, medication_id (which of the two a batch carries, Q5, is not derivable from the
--   item) and every other column from the kept store, as written.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'medicine_batches'
      and m.canonical_table = 'pharmacy.batches'
      and m.disposition in ('LOADED', 'MERGED')
),

batches as (
    select
        b.*,
        case when b.received_on < pharmacy.pack_cutover() and b.pack_size is not null
             then b.pack_size else 1 end::numeric as factor
    from pharmacy.batches as b
    where b.deleted_at is null
),

on_hand as (
    select t.batch_id, sum(t.qty) as qty
    from pharmacy.inventory_txns as t
    where t.deleted_at is null and t.batch_id is not null
    group by t.batch_id
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'medicine_batches'
),

final as (
    select
        p.legacy_key::uuid as id,
        k.attrs ->> 'medicine_id' as medicine_id,
        k.attrs ->> 'medication_id' as medication_id,
        k.attrs ->> 'purchase_id' as purchase_id,
        b.batch_no as batch_number,
        k.attrs ->> 'manufacturing_date' as manufacturing_date,
        b.expiry as expiry_date,
        b.received_on as received_date,
        b.initial_qty / b.factor as received_quantity,
        coalesce(oh.qty, 0) / b.factor as current_quantity,
        coalesce(oh.qty, 0) / b.factor as quantity,
        k.attrs ->> 'purchase_price' as purchase_price,
        k.attrs ->> 'selling_price' as selling_price,
        k.attrs ->> 'supplier_id' as supplier_id,
        k.attrs ->> 'supplier_name' as supplier_name,
        k.attrs ->> 'supplier_batch_id' as supplier_batch_id,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'is_active' as is_active,
        k.attrs ->> 'edited' as edited,
        k.attrs ->> 'verified' as verified,
        k.attrs ->> 'legacy_code' as legacy_code,
        k.attrs ->> 'notes' as notes,
        b.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join batches as b on b.batch_id = p.canonical_id
    left join on_hand as oh on oh.batch_id = b.batch_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
