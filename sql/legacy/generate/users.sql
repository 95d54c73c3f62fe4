-- users: doctors (rows 1..nd, names only here), other staff (nd+1..nd+nsu) and patient logins
-- (role 'patient', employee_id = UHID, email '<UHID>@annam.com'; contract defects 20, 23).
with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(npl)s::bigint npl,
                  %(np)s::bigint np, %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln,
                  %(specs)s::text[] sp, %(user_roles)s::text[] ur, %(streets)s::text[] st,
                  %(cities)s::text[] ci),
u as (
    select p.*, n,
           case when n <= nd then 'doc' when n <= nd + nsu then 'staff' else 'pat' end as kind,
           1 + ((n - nd - nsu - 1) * np) / greatest(npl, 1) as pk
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
u2 as (select u.*, pg_temp.pat_person(s, pk, (rt->>'duplicate_patient')::float8, np) as pq from u offset 0),
named as (
    select u2.*,
           case kind when 'doc' then pg_temp.first_name(s, 'doc', n, fm, ff)
                     when 'staff' then pg_temp.first_name(s, 'usr', n, fm, ff)
                     else pg_temp.first_name(s, 'pat', pq, fm, ff)
           end as fname,
           case kind when 'doc' then pg_temp.last_name(s, 'doc', n, ln)
                     when 'staff' then pg_temp.last_name(s, 'usr', n, ln)
                     else pg_temp.last_name(s, 'pat', pq, ln)
           end as lname,
           case when kind = 'pat' then pg_temp.uhid(pk, np, as_of, span) end as uhid,
           pg_temp.pick(sp, s, 'doc.spec', n) as spec
    from u2
    offset 0
)
insert into users (id, auth_id, employee_id, name, email, role, specialization, department, phone, address,
                   joined_date, status, permissions, party_id, created_at, updated_at)
select pg_temp.uid(s, 'users', n),
       pg_temp.uid(s, 'auth', n),
       case when kind = 'pat' then uhid
            when pg_temp.r(s, 'usr.noemp', n) < 0.1 then null
            else 'EMP' || pg_temp.pad(n, 4) end,
       case when kind = 'doc' then 'Dr. ' || fname || ' ' || lname else fname || ' ' || lname end,
       case when kind = 'pat' then uhid || '@annam.com'
            else lower(replace(fname, ' ', '')) || '.' || lower(replace(replace(lname, '''', ''), ' ', ''))
                 || n::text || '@annamhospital.in' end,
       case when kind = 'pat' then 'patient'
            when kind = 'doc' and n = 1 then 'md'
            when kind = 'doc' and n = 2 then 'chief_doctor'
            when kind = 'doc' then 'doctor'
            else pg_temp.pick(ur, s, 'usr.role', n) end,
       case when kind = 'doc' then spec end,
       -- free text (contract defect 21): the department spelled several ways
       case when kind = 'doc' then (case pg_temp.h(s, 'usr.dep', n) %% 3 when 0 then spec when 1 then lower(spec)
                                    else replace(spec, 'General ', 'Gen. ') end)
            when kind = 'staff' then pg_temp.pick(array['Nursing', 'Pharmacy', 'Front Office', 'Lab', 'Accounts', 'Admin'], s, 'usr.dep', n)
       end,
       case when pg_temp.r(s, 'usr.ph', n) < 0.8 then pg_temp.mobile(s, kind, case when kind = 'pat' then pk else n end) end,
       case when kind <> 'pat' then (1 + pg_temp.h(s, 'usr.door', n) %% 300)::text || ', ' || pg_temp.pick(st, s, 'usr.st', n)
                                     || ', ' || pg_temp.pick(ci, s, 'usr.ci', n) end,
       case when kind = 'pat' then (pg_temp.reg_at(s, pk, np, as_of, span) at time zone 'UTC')::date
            else as_of - span - (pg_temp.h(s, 'usr.join', n) %% 1500)::int end,
       case when pg_temp.r(s, 'usr.status', n) < 0.05 then 'inactive' else 'active' end,
       case when kind = 'pat' then '{}'::jsonb
            else jsonb_build_object('billing', kind = 'staff', 'pharmacy', pg_temp.r(s, 'usr.perm', n) < 0.3,
                                    'prescribe', kind = 'doc', 'admin', n <= 2) end,
       null::uuid,
       case when kind = 'pat' then pg_temp.reg_at(s, pk, np, as_of, span)
            else pg_temp.at(as_of - span - 30, 0.25 + 0.001 * (n %% 100)) end,
       case when kind = 'pat' then pg_temp.reg_at(s, pk, np, as_of, span)
            else pg_temp.at(as_of - span - 30, 0.25 + 0.001 * (n %% 100)) end
from named
