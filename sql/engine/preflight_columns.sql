-- Pre-flight catalog: the target's columns with what the checks need: NOT NULL (and the name of its
-- constraint where the server records one, PG 18+), the generation expression of a generated
-- column and the columns it reads, the declared type with its typmod.
-- Parameters: t (the target, schema.table).
select a.attname::text,
       a.attnotnull,
       a.attgenerated <> '' as generated,
       case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end as generation,
       coalesce((select array_agg(r.attname::text order by r.attnum)
                 from pg_depend dp
                 join pg_attribute r on r.attrelid = dp.refobjid and r.attnum = dp.refobjsubid
                 where a.attgenerated <> '' and dp.classid = 'pg_attrdef'::regclass and dp.objid = d.oid
                   and dp.refclassid = 'pg_class'::regclass and dp.refobjid = a.attrelid and dp.refobjsubid > 0
                   and dp.refobjsubid <> a.attnum),
                '{}') as generation_uses,
       a.atttypid::oid::bigint as type_oid,
       a.atttypmod,
       format_type(a.atttypid, a.atttypmod) as type_name,
       (select n.conname::text from pg_constraint n
        where n.conrelid = a.attrelid and n.contype = 'n' and n.conkey = array[a.attnum]
        limit 1) as not_null_name
from pg_attribute a
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = %(t)s::regclass and a.attnum > 0 and not a.attisdropped
order by a.attnum
