-- departments: the hospital's 23 departments; head_of_department is a doctor's users row.
with p as (select %(seed)s::bigint s, %(depts)s::text[] dep, %(nd)s::bigint nd, %(as_of)s::date as_of,
                  %(span)s::int span)
insert into departments (id, name, description, head_of_department, location, phone, status, created_at, updated_at)
select pg_temp.uid(s, 'departments', i),
       dep[i],
       'Department of ' || dep[i],
       case when i <= 14 then pg_temp.uid(s, 'users', pg_temp.ri(s, 'dep.head', i, nd)) end,
       case when pg_temp.r(s, 'dep.loc', i) < 0.5 then 'Block ' || chr(65 + (i %% 3)::int) || ', Floor ' || (i %% 4)
            else 'Ground Floor' end,
       '0422-' || (2400000 + pg_temp.h(s, 'dep.ph', i) %% 99999)::text,
       case when i = 23 then 'inactive' else 'active' end,
       pg_temp.at(as_of - span - 60, 0.2),
       pg_temp.at(as_of - span - 60, 0.2)
from p, generate_series(1, cardinality(p.dep)) i
