-- drug master: strength in the name, the import's repeats of seed drugs, manufacturer and dosage
-- form variants, disagreeing stock counters, the backup copy
with p as (select %(seed)s::bigint s, %(nseed)s::bigint nseed, %(ndup)s::bigint ndup, %(nm)s::bigint nm, %(rates)s::jsonb rt,
                  %(mfrs)s::text[] mfrs)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'strength_in_name', 'medications', id::text, 'LOAD_WITH_WARN', 'EMBEDDED_VALUE',
       jsonb_build_object('column', 'strength', 'value', null, 'name', name,
                          'corrected', substring(name from '([0-9]+(\.[0-9]+)?\s*(mg)?)'))
from medications where strength is null and name ~ '[0-9]'
union all
select 'duplicate_drug', 'medications', t.id::text, 'MERGE_INTO:' || o.id::text, 'DUPLICATE',
       jsonb_build_object('name', t.name, 'code', t.medication_code, 'same_as_name', o.name, 'same_as_code', o.medication_code)
from p cross join generate_series(p.nseed + 1, p.nseed + p.ndup) m
join medications t on t.id = pg_temp.uid(p.s, 'medications', m)
join medications o on o.id = pg_temp.uid(p.s, 'medications', m - p.nseed)
union all
select 'manufacturer_variant', 'medications', t.id::text, 'LOAD_WITH_WARN', 'VOCAB_VARIANT',
       jsonb_build_object('column', 'manufacturer', 'value', t.manufacturer,
                          'corrected', p.mfrs[1 + (pg_temp.h(p.s, 'drug.mfr', pg_temp.med_drug(m, p.nseed, p.ndup)) %% cardinality(p.mfrs))::int])
from p cross join generate_series(1, p.nm) m
join medications t on t.id = pg_temp.uid(p.s, 'medications', m)
where t.manufacturer <> 'External Pharmacy'
  and t.manufacturer <> p.mfrs[1 + (pg_temp.h(p.s, 'drug.mfr', pg_temp.med_drug(m, p.nseed, p.ndup)) %% cardinality(p.mfrs))::int]
union all
select 'dosage_form_variant', 'medications', id::text, 'LOAD_WITH_WARN', 'VOCAB_VARIANT',
       jsonb_build_object('column', 'dosage_form', 'value', dosage_form, 'corrected', initcap(dosage_form))
from medications where dosage_form is null or dosage_form <> initcap(dosage_form)
union all
select 'stock_counter_mismatch', 'medications', id::text, 'LOAD_WITH_WARN', 'INCONSISTENT_COUNTER',
       jsonb_build_object('stock_quantity', stock_quantity, 'total_stock', total_stock, 'available_stock', available_stock)
from medications where stock_quantity <> total_stock or total_stock <> available_stock
union all
select 'backup_copy', 'medications_backup', id::text, 'EXCLUDE', 'EXCLUDED_SOURCE',
       jsonb_build_object('same_as', id)
from medications_backup
