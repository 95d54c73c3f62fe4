-- compat view body: prescription_dispensing (blueprint-only ghost; the app inserts and reads it).
-- Grain: one row per legacy prescription_dispensing row LOADED into a live pharmacy.dispenses row.
-- Sources: pharmacy.dispenses, pharmacy.rx_lines (the prescription), ops.legacy_id_map (canonical
-- ids back to legacy ids), ops.legacy_kept.
-- Values:
--   id                 the legacy key;
--   prescription_id    the dispense's rx line's prescription back to its legacy id; a dispense
--                      without a line: the written id (kept store);
--   medication_id      the id as written (kept); without a kept value, the line's item back to its
--                      legacy drug id;
--   quantity_dispensed qty; dispensed_at as stored;
--   dispensed_by       the staff member back to the legacy users id LOADED into it;
--   quantity_prescribed, notes, status: from the kept store.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'prescription_dispensing'
      and m.canonical_table = 'pharmacy.dispenses'
      and m.disposition in ('LOADED', 'MERGED')
),

dispenses as (
    select d.*
    from pharmacy.dispenses as d
    where d.deleted_at is null
),

lines as (
    select l.rx_line_id, l.rx_id, l.item_id
    from pharmacy.rx_lines as l
),

rx_keys as (
    select distinct on (m.canonical_id) m.canonical_id as rx_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'prescriptions' and m.canonical_table = 'pharmacy.prescriptions' and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_key
),

item_keys as (
    select distinct on (m.canonical_id) m.canonical_id as item_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.canonical_table = 'pharmacy.items'
      and m.legacy_table in ('medications', 'medicines')
      and m.disposition = 'LOADED'
    order by m.canonical_id, m.legacy_table <> 'medications', m.legacy_key
),

user_keys as (
    select distinct on (m.canonical_id) m.canonical_id as staff_id, m.legacy_key
    from ops.legacy_id_map as m
    where m.legacy_table = 'users' and m.canonical_table = 'core.staff' and m.disposition in ('LOADED', 'MERGED')
    order by m.canonical_id, m.disposition <> 'LOADED', m.legacy_key
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'prescription_dispensing'
),

final as (
    select
        pv.legacy_key::uuid as id,
        coalesce(rk.legacy_key, k.attrs ->> 'prescription_id') as prescription_id,
        coalesce(k.attrs ->> 'medication_id', ik.legacy_key) as medication_id,
        k.attrs ->> 'quantity_prescribed' as quantity_prescribed,
        d.qty as quantity_dispensed,
        uk.legacy_key as dispensed_by,
        d.dispensed_at,
        k.attrs ->> 'notes' as notes,
        k.attrs ->> 'status' as status
    from provenance as pv
    join dispenses as d on d.dispense_id = pv.canonical_id
    left join lines as l on l.rx_line_id = d.rx_line_id
    left join rx_keys as rk on rk.rx_id = l.rx_id
    left join item_keys as ik on ik.item_id = l.item_id
    left join user_keys as uk on uk.staff_id = d.dispensed_by
    left join kept as k on k.legacy_key = pv.legacy_key
)

select * from final
