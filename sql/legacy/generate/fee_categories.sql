-- fee_categories: the 6 live categories (not the DDL seed's 10; contract defect 29)
with p as (select %(seed)s::bigint s, %(fee_categories)s::text[] fc, %(as_of)s::date as_of, %(span)s::int span)
insert into fee_categories (id, name, description, is_active, created_at, updated_at)
select pg_temp.uid(s, 'fee_categories', i), fc[i], fc[i] || ' charges', true,
       pg_temp.at(as_of - span - 5, 0.3), pg_temp.at(as_of - span - 5, 0.3)
from p, generate_series(1, cardinality(p.fc)) i
