-- Per legacy prescription item (prescription_items, staged): exactly one rx_line (ops.legacy_id_map,
-- a live row) or an open quarantine entry, never both and never two. expected 1, actual = live
-- mapped lines + open quarantine entries.
with rows as (
    select s._key from stg.prescription_items as s where not s._deleted
),
mapped as (
    select m.legacy_key, count(*) as n
    from ops.legacy_id_map as m
    join pharmacy.rx_lines as l on l.rx_line_id = m.canonical_id and l.deleted_at is null
    where m.canonical_table = 'pharmacy.rx_lines' and m.legacy_table = 'prescription_items'
    group by 1
),
held as (
    select distinct q.legacy_key, 1 as n
    from ops.quarantine as q
    where q.target_table = 'pharmacy.rx_lines' and q.legacy_table = 'prescription_items' and q.resolved_at is null
)
select 'prescription_items:' || r._key as subject, 1::numeric as expected,
       (coalesce(m.n, 0) + coalesce(h.n, 0))::numeric as actual
from rows as r
left join mapped as m on m.legacy_key = r._key
left join held as h on h.legacy_key = r._key
