-- fee_rates: the 14 live rates (not the DDL seed's 16; contract defect 29)
with p as (select %(seed)s::bigint s, %(fee_cat_ix)s::int[] ci, %(fee_services)s::text[] sv, %(fee_rates)s::numeric[] rt,
                  %(fee_units)s::text[] un, %(as_of)s::date as_of, %(span)s::int span)
insert into fee_rates (id, category_id, service_name, rate_per_unit, unit_type, description, is_active, created_at, updated_at)
select pg_temp.uid(s, 'fee_rates', i), pg_temp.uid(s, 'fee_categories', ci[i]), sv[i], rt[i], un[i], null, i <> 14,
       pg_temp.at(as_of - span - 5, 0.3), pg_temp.at(as_of - span - 5, 0.3)
from p, generate_series(1, cardinality(p.sv)) i
