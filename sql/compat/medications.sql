-- compat view body: medications. Grain: one row per legacy medications row LOADED or MERGED into a
-- live pharmacy.items row (ops.legacy_id_map, canonical_table pharmacy.items).
-- Sources: pharmacy.items (through provenance), ops.legacy_kept (the row's kept columns).
-- Values:
--   id                 the legacy key (a MERGED duplicate answers under its own old id);
--   generic_name, hsn_code, gst_percent
--                      the item's (mapped; a MERGED duplicate shows its survivor's group values:
--                      the first known of the group, blanks collapsed by pharmacy.clean_text);
--   every other column from the kept store, the row's own written value: the drug master is merged
--   many-to-one (pharmacy.items), so the item cannot give back each legacy row's code (unique per
--   legacy row), name (the item's is the group's mixed-case spelling), strength, form and
--   manufacturer (normalized), is_active/is_external (nullable in legacy, derived in the item) or
--   created_at (the group's earliest). The item holds them too (mappings/columns.csv lists both).
-- Normalisations left: none on tiny data (a MERGED row whose generic name, HSN code or GST rate
-- differs from its survivor's shows the survivor's).
with provenance as (
    select m.legacy_key, m.canonical_id, m.disposition
    from ops.legacy_id_map as m
    where m.legacy_table = '@table@'
      and m.canonical_table = 'pharmacy.items'
      and m.disposition in ('LOADED', 'MERGED')
),

items as (
    select i.*
    from pharmacy.items as i
    where i.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = '@table@'
),

final as (
    select
        p.legacy_key::uuid as id,
        k.attrs ->> 'medication_code' as medication_code,
        k.attrs ->> 'name' as name,
        k.attrs ->> 'nickname' as nickname,
        i.generic_name,
        k.attrs ->> 'combination' as combination,
        k.attrs ->> 'schedule' as schedule,
        k.attrs ->> 'manufacturer' as manufacturer,
        k.attrs ->> 'category' as category,
        k.attrs ->> 'dosage_form' as dosage_form,
        k.attrs ->> 'strength' as strength,
        k.attrs ->> 'unit' as unit,
        k.attrs ->> 'purchase_price' as purchase_price,
        k.attrs ->> 'selling_price' as selling_price,
        k.attrs ->> 'mrp' as mrp,
        k.attrs ->> 'unit_price' as unit_price,
        k.attrs ->> 'stock_quantity' as stock_quantity,
        k.attrs ->> 'total_stock' as total_stock,
        k.attrs ->> 'available_stock' as available_stock,
        k.attrs ->> 'minimum_stock_level' as minimum_stock_level,
        k.attrs ->> 'maximum_stock_level' as maximum_stock_level,
        k.attrs ->> 'reorder_level' as reorder_level,
        k.attrs ->> 'prescription_required' as prescription_required,
        k.attrs ->> 'storage_conditions' as storage_conditions,
        k.attrs ->> 'side_effects' as side_effects,
        k.attrs ->> 'contraindications' as contraindications,
        k.attrs ->> 'drug_interactions' as drug_interactions,
        k.attrs ->> 'location' as location,
        i.hsn_code,
        i.gst_rate as gst_percent,
        k.attrs ->> 'cgst_percent' as cgst_percent,
        k.attrs ->> 'sgst_percent' as sgst_percent,
        k.attrs ->> 'supplier_id' as supplier_id,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'is_active' as is_active,
        k.attrs ->> 'is_external' as is_external,
        k.attrs ->> 'created_at' as created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join items as i on i.item_id = p.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
