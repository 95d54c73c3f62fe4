-- Dispensed quantity per legacy dispensing row (prescription_dispensed_items, prescription_dispensing;
-- staged): a row that loads is one live dispense of its quantity_dispensed; a quarantined row
-- dispenses nothing. expected = quantity_dispensed (0 when quarantined), actual = the qty of the
-- live dispenses mapped LOADED from it (a row neither loaded nor quarantined: expected its
-- quantity, actual 0).
with rows as (
    select 'prescription_dispensed_items'::text as legacy_table, s._key, s.quantity_dispensed::numeric as qty
    from stg.prescription_dispensed_items as s
    where not s._deleted
    union all
    select 'prescription_dispensing', s._key, s.quantity_dispensed::numeric
    from stg.prescription_dispensing as s
    where not s._deleted
),
loaded as (
    select m.legacy_table, m.legacy_key, sum(d.qty) as qty
    from ops.legacy_id_map as m
    join pharmacy.dispenses as d on d.dispense_id = m.canonical_id and d.deleted_at is null
    where m.canonical_table = 'pharmacy.dispenses' and m.disposition = 'LOADED'
      and m.legacy_table in ('prescription_dispensed_items', 'prescription_dispensing')
    group by 1, 2
),
held as (
    select distinct q.legacy_table, q.legacy_key
    from ops.quarantine as q
    where q.target_table = 'pharmacy.dispenses' and q.resolved_at is null
      and q.legacy_table in ('prescription_dispensed_items', 'prescription_dispensing')
)
select r.legacy_table || ':' || r._key as subject,
       case when h.legacy_key is not null then 0 else coalesce(r.qty, 0) end as expected,
       coalesce(l.qty, 0) as actual
from rows as r
left join loaded as l on l.legacy_table = r.legacy_table and l.legacy_key = r._key
left join held as h on h.legacy_table = r.legacy_table and h.legacy_key = r._key
