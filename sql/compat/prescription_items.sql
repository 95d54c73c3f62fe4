-- compat view body: prescription_items. Grain: one row per legacy prescription_items row LOADED
-- into a live pharmacy.rx_lines row (ops.legacy_id_map; never merged).
-- Sources: pharmacy.rx_lines, ops.legacy_id_map (canonical ids back to legacy ids), ops.legacy_kept.
-- Values:
--   id                 the legacy key;
--   prescription_id    rx_id back to its legacy prescriptions id;
--   medication_id      the id as written (kept: a line naming a MERGED duplicate drug names the
--                      duplicate); without a kept value, the item back to its legacy drug id;
--   dosage, duration   dose, duration as stored (pharmacy.clean_text);
--   frequency          as stored (the transform fills an empty column from a 'Frequency: x' part
--                      of the instructions: such a row shows it);
--   instructions       from the kept store, as written (the transform moves or drops the
--                      'Frequency: x' part, and where it stood is lost);
--   quantity           qty (the transform loads a quantity <= 0 as NULL);
--   created_at         rx_lines.created_at;
--   every other column from the kept store, as written.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'prescription_items'
      and m.canonical_table = 'pharmacy.rx_lines'
      and m.disposition in ('LOADED', 'MERGED')
),

lines as (
    select l.*
    from pharmacy.rx_lines as l
    where l.deleted_at is null
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

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'prescription_items'
),

final as (
    select
        pv.legacy_key::uuid as id,
        rk.legacy_key as prescription_id,
        coalesce(k.attrs ->> 'medication_id', ik.legacy_key) as medication_id,
        k.attrs ->> 'medication_name' as medication_name,
        l.dose as dosage,
        l.frequency,
        l.duration,
        l.qty as quantity,
        k.attrs ->> 'instructions' as instructions,
        k.attrs ->> 'unit_price' as unit_price,
        k.attrs ->> 'total_price' as total_price,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'dispensed_quantity' as dispensed_quantity,
        k.attrs ->> 'remaining_quantity' as remaining_quantity,
        k.attrs ->> 'dispensed_date' as dispensed_date,
        k.attrs ->> 'dispensed_by' as dispensed_by,
        k.attrs ->> 'billing_acknowledged' as billing_acknowledged,
        k.attrs ->> 'billing_acknowledged_by' as billing_acknowledged_by,
        k.attrs ->> 'billing_acknowledged_at' as billing_acknowledged_at,
        k.attrs ->> 'billing_edited' as billing_edited,
        k.attrs ->> 'billing_last_edited_by' as billing_last_edited_by,
        k.attrs ->> 'billing_last_edited_at' as billing_last_edited_at,
        l.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as pv
    join lines as l on l.rx_line_id = pv.canonical_id
    left join rx_keys as rk on rk.rx_id = l.rx_id
    left join item_keys as ik on ik.item_id = l.item_id
    left join kept as k on k.legacy_key = pv.legacy_key
)

select * from final
