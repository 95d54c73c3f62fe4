-- medicines (blueprint profile only: a second drug table beside medications). Rows 1..nmed_dup
-- repeat distinct medications rows: an exact copy (same id, as the live alias view returns) or a
-- variant in case, spacing, strength format ('500 mg'/'500mg') or code. Later rows are drugs only
-- this table has.
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(ndup)s::bigint ndup, %(nmed)s::bigint nmed,
                  %(nmed_dup)s::bigint nmed_dup, %(as_of)s::date as_of, %(span)s::int span,
                  %(stems)s::text[] stems, %(strengths)s::text[] strengths, %(forms)s::text[] forms,
                  %(form_abbrev)s::text[] fab, %(mfrs)s::text[] mfrs),
i as (
    select p.*, n, 1 + ((n - 1) * nm) / greatest(nmed_dup, 1) as m, (pg_temp.h(s, 'mdc.var', n) %% 5)::int as v
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
)
insert into medicines (id, medication_code, name, nickname, generic_name, combination, schedule, manufacturer, category,
    dosage_form, strength, unit, purchase_price, selling_price, mrp, unit_price, stock_quantity, total_stock,
    available_stock, minimum_stock_level, maximum_stock_level, reorder_level, prescription_required,
    storage_conditions, side_effects, contraindications, drug_interactions, location, hsn_code, gst_percent,
    cgst_percent, sgst_percent, supplier_id, status, is_active, is_external, created_at, updated_at)
select case when v = 0 then md.id else pg_temp.uid(s, 'medicines', n) end,
       case when v = 4 then 'MED-' || upper(substr(md5(s::text || ':mdc:' || n::text), 1, 24)) else md.medication_code end,
       case v when 1 then lower(md.name) when 2 then replace(md.name, ' ', '  ') || ' '
              when 3 then regexp_replace(md.name, '([0-9])mg', '\1 mg') else md.name end,
       md.nickname, md.generic_name, md.combination, md.schedule, md.manufacturer, md.category, md.dosage_form,
       case when v = 3 then replace(md.strength, 'mg', ' mg') else md.strength end,
       md.unit, md.purchase_price, md.selling_price, md.mrp, md.unit_price, md.stock_quantity, md.total_stock,
       md.available_stock, md.minimum_stock_level, md.maximum_stock_level, md.reorder_level, md.prescription_required,
       md.storage_conditions, md.side_effects, md.contraindications, md.drug_interactions, md.location, md.hsn_code,
       md.gst_percent, md.cgst_percent, md.sgst_percent, md.supplier_id, md.status, md.is_active, md.is_external,
       md.created_at, md.updated_at
from i join medications md on md.id = pg_temp.uid(s, 'medications', m)
where n <= nmed_dup
union all
select pg_temp.uid(s, 'medicines', n),
       'MED-' || upper(substr(md5(s::text || ':mdc:' || n::text), 1, 24)),
       pg_temp.drug_stem(c, stems) || ' ' || pg_temp.drug_strength(c, stems, strengths) || ' ' || fab[pg_temp.drug_form_ix(c, stems, strengths, forms)],
       null, null, null, null,
       mfrs[1 + (pg_temp.h(s, 'drug.mfr', c) %% cardinality(mfrs))::int],
       null,
       forms[pg_temp.drug_form_ix(c, stems, strengths, forms)],
       null, null, null, 5 + (pg_temp.h(s, 'drug.mrp', c) %% 400)::int, 5 + (pg_temp.h(s, 'drug.mrp', c) %% 400)::int, null,
       0, 0, 0, 10, null, 10, false, null, null, null, null, null, null, 12, 6, 6, null, 'active', true, false,
       pg_temp.at(as_of - span - 200, 0.3), pg_temp.at(as_of - span - 200, 0.3)
from (select i.*, (nm - ndup) + (n - nmed_dup) as c from i where n > nmed_dup) x
