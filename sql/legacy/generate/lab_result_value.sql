-- lab_result_value (blueprint profile only): the normalized rows of the completed reports that have
-- no JSON results (see lab_reports.sql); same values, same defects.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nlab)s::bigint nlab, %(as_of)s::date as_of, %(span)s::int span,
                  %(rates)s::jsonb rt, %(lab_defs)s::text[] ld),
r as (
    select lr.id, lr.results, lr.created_at, ld, s, n,
           pg_temp.ri(s, 'lab.panel', n, cardinality(ld))::int as panel,
           pg_temp.pin(s, 'lab_unparseable_value', nlab) as pin_unp,
           pg_temp.pin(s, 'lab_missing_unit', nlab) as pin_unit,
           (rt->>'lab_unparseable_value')::float8 as r_unp,
           (rt->>'lab_missing_unit')::float8 as r_unit
    from p cross join generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    join lab_reports lr on lr.id = pg_temp.uid(s, 'lab_reports', n)
    where lr.results is null and lr.status = 'completed'
)
insert into lab_result_value (id, lab_report_id, parameter_name, value, unit_id, normal_range, is_abnormal, created_at)
select pg_temp.uid(s, 'lab_result_value', n * 100 + i),
       r.id,
       split_part(a, ':', 1),
       pg_temp.lab_value(s, n, i, a, r_unp, pin_unp),
       case when not pg_temp.lab_unit_missing(s, n, i, r_unit, pin_unit) then rc.id end,
       split_part(a, ':', 3) || '-' || split_part(a, ':', 4),
       pg_temp.lab_value(s, n, i, a, r_unp, pin_unp) ~ '^-?[0-9]+(\.[0-9]+)?$'
           and pg_temp.lab_value(s, n, i, a, r_unp, pin_unp)::numeric not between split_part(a, ':', 3)::numeric and split_part(a, ':', 4)::numeric,
       r.created_at + interval '1 day'
from r
cross join lateral unnest(string_to_array(r.ld[r.panel], ';')) with ordinality x(a, i)
left join ref_code rc on rc.domain = 'unit' and rc.code = nullif(split_part(a, ':', 2), '')
