-- Per stock position (facility, item, batch) the ledger or a loaded batch has: the ledger's sum
-- (live rows) equals the legacy quantity on hand in the batch's unit: medicine_batches
-- .current_quantity, times the pack size its notes state when it was received before
-- pharmacy.pack_cutover() (packs, Q9). A batch whose legacy row is deleted or quarantined, a
-- position its batch's item no longer holds, and the movements without a batch expect 0 (the
-- batches' quantities already hold them). Subject: batch and item ids.
with facility as (
    select etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id
),
legacy_on_hand as (
    select
        f.facility_id,
        b.item_id,
        b.batch_id,
        s.current_quantity::numeric
            * case when coalesce(s.received_date, b.received_on) < pharmacy.pack_cutover()
                   then coalesce(pharmacy.pack_size_of(s.notes), 1) else 1 end as qty
    from pharmacy.batches as b
    join ops.legacy_id_map as m
      on m.canonical_table = 'pharmacy.batches' and m.canonical_id = b.batch_id
     and m.legacy_table = 'medicine_batches' and m.disposition = 'LOADED'
    join stg.medicine_batches as s on s._key = m.legacy_key and not s._deleted
    cross join facility as f
    where b.deleted_at is null
      and not exists (select 1 from ops.quarantine as q
                      where q.target_table = 'pharmacy.batches' and q.legacy_table = 'medicine_batches'
                        and q.legacy_key = m.legacy_key and q.resolved_at is null)
),
ledger as (
    select t.facility_id, t.item_id, t.batch_id, sum(t.qty) as qty
    from pharmacy.inventory_txns as t
    where t.deleted_at is null
    group by 1, 2, 3
)
select
    concat_ws('|', 'batch:' || coalesce(coalesce(o.batch_id, l.batch_id)::text, 'none'),
              'item:' || coalesce(o.item_id, l.item_id)::text) as subject,
    coalesce(o.qty, 0) as expected,
    coalesce(l.qty, 0) as actual
from legacy_on_hand as o
full join ledger as l
  on l.facility_id = o.facility_id and l.item_id = o.item_id and l.batch_id = o.batch_id
