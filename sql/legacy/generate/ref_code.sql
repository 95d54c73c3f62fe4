-- ref_code: the unified (domain, code, label, active) lookup, 64 rows. (billing_line, medicine) has
-- the id the pharmacy billing code hard-codes (contract defect 15).
with p as (select %(seed)s::bigint s, %(ref_domains)s::text[] dom, %(ref_codes)s::text[] code)
insert into ref_code (id, domain, code, label, active)
select case when dom[i] = 'billing_line' and code[i] = 'medicine'
            then '3a0ca26e-7dc1-4ede-9872-d798cf39d248'::uuid
            else pg_temp.uid(s, 'ref_code', i) end,
       dom[i],
       code[i],
       initcap(replace(code[i], '_', ' ')),
       case when pg_temp.r(s, 'rc.active', i) < 0.05 then null else true end
from p, generate_series(1, cardinality(p.dom)) i
