-- medicines (blueprint): repeats of medications rows (exact copies keep the id) merge into the
-- drug's first medications row; strength embedded in names
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nseed)s::bigint nseed, %(ndup)s::bigint ndup,
                  %(nmed_dup)s::bigint nmed_dup),
i as (
    select p.*, n, 1 + ((n - 1) * nm) / greatest(nmed_dup, 1) as m, (pg_temp.h(s, 'mdc.var', n) %% 5)::int as v
    from p, generate_series(1, p.nmed_dup) n
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'duplicate_drug', 'medicines', t.id::text,
       'MERGE_INTO:' || pg_temp.uid(s, 'medications', case when m > nseed and m - nseed <= ndup then m - nseed else m end)::text,
       'DUPLICATE',
       jsonb_build_object('name', t.name, 'code', t.medication_code,
                          'variant', (array['exact copy', 'case', 'spacing', 'strength format', 'code'])[v + 1])
from i join medicines t on t.id = case when v = 0 then pg_temp.uid(s, 'medications', m) else pg_temp.uid(s, 'medicines', n) end
union all
select 'strength_in_name', 'medicines', id::text, 'LOAD_WITH_WARN', 'EMBEDDED_VALUE',
       jsonb_build_object('column', 'strength', 'value', null, 'name', name,
                          'corrected', substring(name from '([0-9]+(\.[0-9]+)?\s*(mg)?)'))
from medicines where strength is null and name ~ '[0-9]'
