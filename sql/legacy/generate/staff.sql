-- staff: title-case free-text roles. Rows 1..nsdoc are the first doctors again ('Doctor'), written
-- with another name format than users.name (contract defects 23, 26); the next rows are the staff
-- users; the rest have no login.
with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(nsdoc)s::bigint nsdoc,
                  %(as_of)s::date as_of, %(span)s::int span,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln, %(staff_roles)s::text[] sr),
j as (
    select p.*, n,
           case when n <= nsdoc then 'doc' when n - nsdoc <= nsu then 'usr' else 'stf' end as kind,
           case when n <= nsdoc then n when n - nsdoc <= nsu then nd + n - nsdoc else n end as q
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
named as (
    select j.*, pg_temp.first_name(s, kind, q, fm, ff) as fname, pg_temp.last_name(s, kind, q, ln) as lname from j offset 0
)
insert into staff (id, employee_id, first_name, last_name, email, phone, department_id, role, hire_date,
                   specialization, is_active, created_at, updated_at, pf_number, esic_number, deleted_at,
                   training_category, user_id)
select pg_temp.uid(s, 'staff', n),
       'STF' || pg_temp.pad(n, 4),
       case when kind = 'doc' then upper(fname) else fname end,
       case when kind = 'doc' and pg_temp.r(s, 'stf.ln', n) < 0.5 then left(lname, 1) || '.' else lname end,
       case when pg_temp.r(s, 'stf.mail', n) < 0.85
            then lower(fname) || '.' || lower(replace(replace(lname, '''', ''), ' ', '')) || '.stf' || n::text || '@annamhospital.in' end,
       pg_temp.mobile(s, kind, q),
       pg_temp.uid(s, 'departments', pg_temp.ri(s, 'stf.dep', n, 22)),
       case when kind = 'doc' then 'Doctor' else sr[2 + (pg_temp.h(s, 'stf.role', n) %% (cardinality(sr) - 1))::int] end,
       as_of - span - (pg_temp.h(s, 'stf.hire', n) %% 2000)::int,
       case when kind = 'doc' then 'Consultant' end,
       pg_temp.r(s, 'stf.act', n) >= 0.08,
       pg_temp.at(as_of - 45, 0.3),
       pg_temp.at(as_of - 45, 0.3),
       case when pg_temp.r(s, 'stf.pf', n) < 0.6 then 'TN/CBE/' || (100000 + pg_temp.h(s, 'stf.pfn', n) %% 899999)::text end,
       case when pg_temp.r(s, 'stf.esic', n) < 0.4 then (3100000000 + pg_temp.h(s, 'stf.esn', n) %% 99999999)::text end,
       null::timestamptz,
       case when pg_temp.r(s, 'stf.tr', n) < 0.3 then 'BLS' end,
       case when kind = 'stf' then null
            when kind = 'doc' and pg_temp.r(s, 'stf.nouser', n) < 0.2 then null
            else pg_temp.uid(s, 'users', q) end
from named
