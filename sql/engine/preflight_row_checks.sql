-- Pre-flight, row by row in one scan: every check that looks at one row (NOT NULL, the typmod of
-- varchar(n)/numeric(p,s) columns, each CHECK's own expression, the suite's row rules). hits is
-- "case when (violated) then i end, ..." (one per check), any their disjunction, descriptors
-- "(i, reason code, detail), ..." (details name constraints and columns, never a value).
insert into _pf_new (_legacy_table, _legacy_key, _pk, _reason, _detail)
select h._legacy_table, h._legacy_key, h._pk, d.reason, d.detail
from (
    select r._legacy_table, r._legacy_key, r.{pk} as _pk, unnest(array[{hits}]::int[]) as _hit
    from ({rows}) as r
    where {any}
) as h
join (values {descriptors}) as d (hit, reason, detail) on d.hit = h._hit
