-- Pre-flight catalog: the target's CHECK and FOREIGN KEY constraints: the CHECK's own expression
-- (deparsed with unqualified column names) and the columns it reads; for a foreign key its columns,
-- the parent's columns, the parent (schema, table), its match type, and whether the parent has
-- soft deletes (then the parent row must be live).
-- Parameters: t (the target, schema.table).
select c.conname::text,
       c.contype::text,
       case when c.contype = 'c' then pg_get_expr(c.conbin, c.conrelid) end as expression,
       array(select a.attname::text from unnest(c.conkey) with ordinality as k (attnum, i)
             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.i) as columns,
       pn.nspname::text as parent_schema,
       pc.relname::text as parent_table,
       array(select a.attname::text from unnest(c.confkey) with ordinality as k (attnum, i)
             join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.i) as parent_columns,
       c.confmatchtype::text,
       exists (select 1 from pg_attribute x
               where x.attrelid = c.confrelid and x.attname = 'deleted_at' and not x.attisdropped) as parent_soft_deletes
from pg_constraint c
left join pg_class pc on pc.oid = c.confrelid
left join pg_namespace pn on pn.oid = pc.relnamespace
where c.conrelid = %(t)s::regclass and c.contype in ('c', 'f')
order by c.contype, c.conname
