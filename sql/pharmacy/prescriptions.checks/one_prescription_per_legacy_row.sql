-- Per legacy prescription (prescriptions, staged): exactly one prescription (ops.legacy_id_map,
-- a live row) or an open quarantine entry, never both and never two. expected 1, actual = live
-- mapped prescriptions + open quarantine entries.
with rows as (
    select s._key from stg.prescriptions as s where not s._deleted
),
mapped as (
    select m.legacy_key, count(*) as n
    from ops.legacy_id_map as m
    join pharmacy.prescriptions as p on p.rx_id = m.canonical_id and p.deleted_at is null
    where m.canonical_table = 'pharmacy.prescriptions' and m.legacy_table = 'prescriptions'
    group by 1
),
held as (
    select distinct q.legacy_key, 1 as n
    from ops.quarantine as q
    where q.target_table = 'pharmacy.prescriptions' and q.legacy_table = 'prescriptions' and q.resolved_at is null
)
select 'prescriptions:' || r._key as subject, 1::numeric as expected,
       (coalesce(m.n, 0) + coalesce(h.n, 0))::numeric as actual
from rows as r
left join mapped as m on m.legacy_key = r._key
left join held as h on h.legacy_key = r._key
