-- Per legacy drug master row (medications, medicines where it is a table; live, staged): exactly
-- one item, loaded or merged (ops.legacy_id_map), or quarantined (an open ops.quarantine entry),
-- never both and never two items. expected 1, actual = id-map entries + open quarantine entries.
with rows as (
    select 'medications'::text as legacy_table, m._key from stg.medications as m where not m._deleted
    union all
    select 'medicines', m._key from stg.medicines as m where not m._deleted
),
mapped as (
    select m.legacy_table, m.legacy_key, count(*) as n
    from ops.legacy_id_map as m
    where m.canonical_table = 'pharmacy.items' and m.legacy_table in ('medications', 'medicines')
    group by 1, 2
),
held as (
    select q.legacy_table, q.legacy_key, 1 as n
    from ops.quarantine as q
    where q.target_table = 'pharmacy.items' and q.legacy_table in ('medications', 'medicines')
      and q.resolved_at is null
    group by 1, 2
)
select r.legacy_table || ':' || r._key as subject, 1::numeric as expected,
       (coalesce(m.n, 0) + coalesce(h.n, 0))::numeric as actual
from rows as r
left join mapped as m on m.legacy_table = r.legacy_table and m.legacy_key = r._key
left join held as h on h.legacy_table = r.legacy_table and h.legacy_key = r._key
