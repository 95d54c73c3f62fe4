-- compat view body: stock_transactions. Grain: one row per legacy stock_transactions row LOADED into
-- the ledger pharmacy.inventory_txns (ops.legacy_id_map, legacy key = the legacy id; the ledger's
-- own corrections '<id>#correction-<n>' are not legacy rows and not shown).
-- Sources: pharmacy.inventory_txns, ops.legacy_id_map (the item back to its legacy drug id),
-- ops.legacy_kept (kept columns).
-- Values:
--   id                 the legacy key;
--   medication_id      the id as written (kept: a movement against a MERGED duplicate drug names
--                      the duplicate, which the item cannot give back); without a kept value, the
--                      item back to its legacy id (the medications row LOADED into it, else the
--                      medicines row);
--   transaction_date   pharmacy.inventory_txns.occurred_at (the transform fills a missing
--                      transaction_date with created_at: such a row shows created_at);
--   every other column from the kept store, as written (type, signed quantity, prices, total as
--   written, batch number, references, notes, created_at): the ledger's qty is signed by the type's
--   direction and counted in units (Q9, Q10), so the written values cannot be derived from it.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'stock_transactions'
      and m.canonical_table = 'pharmacy.inventory_txns'
      and m.disposition in ('LOADED', 'MERGED')
      and strpos(m.legacy_key, '#') = 0
),

txns as (
    select t.*
    from pharmacy.inventory_txns as t
    where t.deleted_at is null
),

-- an item -> the legacy drug row it was loaded from (medications before medicines)
item_keys as (
    select distinct on (m.canonical_id) m.canonical_id as item_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.canonical_table = 'pharmacy.items'
      and m.legacy_table in ('medications', 'medicines')
      and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_table <> 'medications', m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'stock_transactions'
),

final as (
    select
        p.legacy_key::uuid as id,
        coalesce(k.attrs ->> 'medication_id', ik.legacy_key) as medication_id,
        k.attrs ->> 'transaction_type' as transaction_type,
        k.attrs ->> 'quantity' as quantity,
        k.attrs ->> 'unit_price' as unit_price,
        k.attrs ->> 'total_amount' as total_amount,
        k.attrs ->> 'batch_number' as batch_number,
        k.attrs ->> 'expiry_date' as expiry_date,
        k.attrs ->> 'supplier_id' as supplier_id,
        k.attrs ->> 'reference_id' as reference_id,
        k.attrs ->> 'reference_type' as reference_type,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'performed_by' as performed_by,
        t.occurred_at as transaction_date,
        k.attrs ->> 'created_at' as created_at
    from provenance as p
    join txns as t on t.txn_id = p.canonical_id
    left join item_keys as ik on ik.item_id = t.item_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
