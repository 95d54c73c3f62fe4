-- lab_reports results JSON and lab_result_value rows: unparseable values, units missing where the
-- panel defines one
with p as (select %(lab_defs)s::text[] ld),
units as (
    select distinct split_part(a, ':', 1) as analyte, split_part(a, ':', 2) as unit
    from p cross join lateral unnest(p.ld) d cross join lateral unnest(string_to_array(d, ';')) a
),
res as (
    select lr.id, e.ord, e.v ->> 'parameter' as analyte, e.v ->> 'value' as val, e.v ->> 'unit' as unit
    from lab_reports lr cross join lateral jsonb_array_elements(lr.results) with ordinality e(v, ord)
    where jsonb_typeof(lr.results) = 'array'
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'lab_unparseable_value', 'lab_reports', id::text, 'LOAD_WITH_WARN', 'UNPARSEABLE_VALUE',
       jsonb_build_object('analyte', analyte, 'value', val, 'numeric_value', null)
from res where val !~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
union all
select 'lab_missing_unit', 'lab_reports', res.id::text, 'LOAD_WITH_WARN', 'MISSING_UNIT',
       jsonb_build_object('analyte', res.analyte, 'unit', u.unit)
from res join units u on u.analyte = res.analyte
where res.unit is null and u.unit <> ''
union all
select 'lab_unparseable_value', 'lab_result_value', id::text, 'LOAD_WITH_WARN', 'UNPARSEABLE_VALUE',
       jsonb_build_object('analyte', parameter_name, 'value', value, 'numeric_value', null)
from lab_result_value where value !~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
union all
select 'lab_missing_unit', 'lab_result_value', v.id::text, 'LOAD_WITH_WARN', 'MISSING_UNIT',
       jsonb_build_object('analyte', v.parameter_name, 'unit', u.unit)
from lab_result_value v join units u on u.analyte = v.parameter_name
where v.unit_id is null and u.unit <> ''
