-- The legacy key a target row was loaded from (its LOADED mapping), for detail.survivor.
select m.legacy_table, m.legacy_key
from ops.legacy_id_map as m
where l._holder is not null and m.canonical_table = {table} and m.canonical_id = l._holder
  and m.disposition = 'LOADED'
order by m.legacy_table, m.legacy_key
limit 1
