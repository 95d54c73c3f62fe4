-- Pre-flight catalog: the target's unique indexes other than the primary key (UNIQUE constraints
-- and unique indexes, partial and expression ones included): the constraint's name (else the
-- index's), each key column or expression as the index has it, the collation where it is not the
-- key column's own, the predicate of a partial index, NULLS NOT DISTINCT (nnd: the catalog column
-- on PG 15+, else false), and every column the index reads.
-- Parameters: t (the target, schema.table).
select coalesce(con.conname, ic.relname)::text as name,
       array(select pg_get_indexdef(i.indexrelid, k, true) from generate_series(1, i.indnkeyatts) as k order by k) as keys,
       array(select case when i.indcollation[k - 1] <> 0
                          and i.indcollation[k - 1] is distinct from ka.attcollation
                          and (ka.attnum is not null or i.indcollation[k - 1] <> 'pg_catalog.default'::regcollation)
                         then i.indcollation[k - 1]::regcollation::text end
             from generate_series(1, i.indnkeyatts) as k
             left join pg_attribute ka on ka.attrelid = i.indrelid and ka.attnum = i.indkey[k - 1] and i.indkey[k - 1] > 0
             order by k) as collations,
       pg_get_expr(i.indpred, i.indrelid) as predicate,
       {nnd} as nulls_not_distinct,
       array(select distinct a.attname::text from pg_attribute a
             where a.attrelid = i.indrelid and a.attnum > 0
               and (a.attnum = any (i.indkey::int2[])
                    or exists (select 1 from pg_depend dp
                               where dp.classid = 'pg_class'::regclass and dp.objid = i.indexrelid
                                 and dp.refclassid = 'pg_class'::regclass and dp.refobjid = i.indrelid
                                 and dp.refobjsubid = a.attnum))) as uses
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid and con.contype in ('u', 'p', 'x')
where i.indrelid = %(t)s::regclass and i.indisunique and not i.indisprimary and i.indisready
order by 1
