-- medications: the drug master (contract defects 1-4). Rows 1..nseed come from the seed script
-- ('MED-' + 32 hex, strength NULL, strength only in the name); later rows from the import
-- ('MED-' + md5(lower(name|manufacturer))[1:24], strength regex-extracted when it has a unit). The
-- import's first ndup rows repeat seed drugs 1..ndup with a variant (case, spacing, '500 mg').
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nseed)s::bigint nseed, %(ndup)s::bigint ndup,
                  %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt,
                  %(stems)s::text[] stems, %(strengths)s::text[] strengths, %(forms)s::text[] forms,
                  %(form_abbrev)s::text[] fab, %(generics)s::text[] gen, %(mfrs)s::text[] mfrs,
                  %(mfr_variants)s::text[] mfv, %(med_categories)s::text[] cats),
m as (
    select p.*, n,
           pg_temp.med_drug(n, nseed, ndup) as c,
           case when n <= nseed then 'seed' when n - nseed <= ndup then 'dup' else 'import' end as src,
           pg_temp.r(s, 'med.ext', n) < 0.02 and n > nseed + ndup as ext
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
d as (
    select m.*,
           pg_temp.drug_stem(c, stems) as stem,
           pg_temp.drug_strength(c, stems, strengths) as strength,
           pg_temp.drug_form_ix(c, stems, strengths, forms) as fi,
           1 + (pg_temp.h(s, 'drug.mfr', c) %% cardinality(mfrs))::int as mi,
           (pg_temp.h(s, 'med.var', n) %% 3)::int as v
    from m
    offset 0
),
f as (
    select d.*,
           case when src = 'dup' and v = 0 then upper(stem || ' ' || strength || ' ' || fab[fi])
                when src = 'dup' and v = 1 then stem || '  ' || strength || ' ' || fab[fi] || ' '
                when src = 'dup' and v = 2 then stem || ' ' || replace(strength, 'mg', ' mg') || ' ' || fab[fi]
                when ext then stem || ' ' || strength || ' ' || fab[fi] || ' (External)'
                else stem || ' ' || strength || ' ' || fab[fi] end as name,
           case when ext then 'External Pharmacy'
                when pg_temp.hit(s, 'manufacturer_variant', n, (rt->>'manufacturer_variant')::float8, nm)
                then (string_to_array(mfv[mi], '|') || array['fssai'])[1 + (pg_temp.h(s, 'med.mfv', n) %% (cardinality(string_to_array(mfv[mi], '|')) + 1))::int]
                else mfrs[mi] end as manufacturer,
           5 + (pg_temp.h(s, 'drug.mrp', c) %% 400)::int as mrp,
           (pg_temp.h(s, 'med.stock', n) %% 500)::int as stock,
           pg_temp.hit(s, 'stock_counter_mismatch', n, (rt->>'stock_counter_mismatch')::float8, nm) as mismatch
    from d
    offset 0
)
insert into medications (id, medication_code, name, nickname, generic_name, combination, schedule, manufacturer, category,
    dosage_form, strength, unit, purchase_price, selling_price, mrp, unit_price, stock_quantity, total_stock,
    available_stock, minimum_stock_level, maximum_stock_level, reorder_level, prescription_required,
    storage_conditions, side_effects, contraindications, drug_interactions, location, hsn_code, gst_percent,
    cgst_percent, sgst_percent, supplier_id, status, is_active, is_external, created_at, updated_at)
select pg_temp.uid(s, 'medications', n),
       case when src = 'seed' then 'MED-' || upper(replace(pg_temp.uid(s, 'medcode', n)::text, '-', ''))
            else 'MED-' || left(md5(lower(name || '|' || manufacturer)), 24) end,
       name,
       case when pg_temp.r(s, 'med.nick', n) < 0.1 then lower(stem) end,
       gen[1 + ((c - 1) %% cardinality(gen))::int],
       case when gen[1 + ((c - 1) %% cardinality(gen))::int] like '%%+%%' then gen[1 + ((c - 1) %% cardinality(gen))::int] end,
       case when pg_temp.r(s, 'med.sch', c) < 0.3 then 'H' end,
       manufacturer,
       case when ext then 'External' else cats[1 + (pg_temp.h(s, 'drug.cat', c) %% cardinality(cats))::int] end,
       case when pg_temp.hit(s, 'dosage_form_variant', n, (rt->>'dosage_form_variant')::float8, nm)
            then case when pg_temp.h(s, 'med.dfv', n) %% 2 = 0 then lower(forms[fi]) end
            else forms[fi] end,
       case when src <> 'seed' and strength ~ 'mg$' then strength end,
       case when fi in (1, 2) then 'strip' when fi = 3 then 'bottle' when fi = 4 then 'vial' else 'unit' end,
       round(mrp * 0.7, 2),
       mrp,
       mrp,
       round(mrp / pg_temp.pack_size(c, stems, strengths, forms)::numeric, 2),
       stock,
       case when mismatch then stock + 10 + (pg_temp.h(s, 'med.ts', n) %% 90)::int else stock end,
       case when mismatch then greatest(stock - 5 - (pg_temp.h(s, 'med.as', n) %% 40)::int, 0) else stock end,
       10, 1000, 10,
       pg_temp.r(s, 'med.rx', c) < 0.6,
       case when fi = 4 then 'Store at 2-8 C' else 'Store below 25 C' end,
       null, null, null,
       'Rack ' || chr(65 + (pg_temp.h(s, 'med.rack', n) %% 8)::int) || '-' || (1 + pg_temp.h(s, 'med.shelf', n) %% 20)::text,
       '3004' || lpad((pg_temp.h(s, 'med.hsn', c) %% 100)::text, 2, '0'),
       12, 6, 6,
       null::uuid,
       case when pg_temp.r(s, 'med.st', n) < 0.03 then 'discontinued' when pg_temp.r(s, 'med.st', n) < 0.06 then 'inactive' else 'active' end,
       case when pg_temp.r(s, 'med.ia', n) < 0.3 then null else pg_temp.r(s, 'med.st', n) >= 0.06 end,
       case when ext then true when pg_temp.r(s, 'med.ie', n) < 0.5 then false end,
       pg_temp.at(as_of - span + (n %% 200)::int, 0.3),
       pg_temp.at(as_of - span + (n %% 200)::int, 0.3)
from f
