-- Per legacy ledger row (stock_transactions, pharmacy_stock_transactions; deleted ones included):
-- loaded or quarantined, and its quantity conserved. expected: the legacy quantity signed by its
-- type (ref.codes map:stock_transactions.direction: in > 0, out < 0, either as stored) in units (a
-- 'purchase' dated before pharmacy.pack_cutover() in the facility's zone counts packs: times the
-- pack size of the batch its movement is on); 0 when the row is deleted in legacy or quarantined
-- (an open ops.quarantine entry). actual: the sum of its live ledger rows (the movement and its
-- corrections: legacy keys '<id>' and '<id>#correction-<n>'); NULL when the row is neither in the
-- ledger nor quarantined. Subject: legacy table and id.
with facility as (
    select f.timezone
    from core.facilities as f
    where f.facility_id = etl.canonical_id('core.facilities', 'settings', 'facility')
),
legacy as (
    select 'stock_transactions'::text as legacy_table, s._key, s._deleted, s.transaction_type, s.quantity,
           coalesce(s.transaction_date, s.created_at) as occurred_at
    from stg.stock_transactions as s
    union all
    select 'pharmacy_stock_transactions', s._key, s._deleted, s.transaction_type, s.quantity,
           coalesce(s.transaction_date, s.created_at)
    from stg.pharmacy_stock_transactions as s
),
ledger as (
    select m.legacy_table, split_part(m.legacy_key, '#', 1) as base_key, sum(t.qty) as qty,
           max(b.pack_size) filter (where m.legacy_key = split_part(m.legacy_key, '#', 1)) as pack_size
    from ops.legacy_id_map as m
    join pharmacy.inventory_txns as t on t.txn_id = m.canonical_id and t.deleted_at is null
    left join pharmacy.batches as b on b.batch_id = t.batch_id
    where m.canonical_table = 'pharmacy.inventory_txns' and m.disposition = 'LOADED'
      and m.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
    group by 1, 2
),
held as (
    select distinct q.legacy_table, q.legacy_key
    from ops.quarantine as q
    where q.target_table = 'pharmacy.inventory_txns' and q.resolved_at is null
      and q.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
)
select
    r.legacy_table || ':' || r._key as subject,
    case when r._deleted or h.legacy_key is not null then 0
         else abs(r.quantity::numeric)
              * case when etl.norm_key(r.transaction_type) = 'purchase'
                          and etl.local_date(r.occurred_at, (select timezone from facility)) < pharmacy.pack_cutover()
                     then coalesce(l.pack_size, 1) else 1 end
              * case d.display when 'in' then 1 when 'out' then -1 else sign(r.quantity::numeric) end
    end as expected,
    case when r._deleted or h.legacy_key is not null or l.base_key is not null then coalesce(l.qty, 0) end as actual
from legacy as r
left join ref.codes as d on d.system = 'map:stock_transactions.direction' and d.code = etl.norm_key(r.transaction_type)
left join ledger as l on l.legacy_table = r.legacy_table and l.base_key = r._key
left join held as h on h.legacy_table = r.legacy_table and h.legacy_key = r._key
