-- Test transform (tests/test_preflight_through_dagster.py): three legacy logins as core.users rows,
-- two sharing one e-mail (users_email_key UNIQUE) and one without any (email NOT NULL); every other
-- login gets an address of its own, so the table reconciles.
with src as (
    select s._key, row_number() over (order by s._key) as n
    from stg.users as s
    where not s._deleted
)
select etl.canonical_id('core.users', 'users', src._key) as user_id,
       case when src.n <= 2 then 'phi.leak.probe' || '@example.org'
            when src.n = 3 then null
            else 'login' || src.n || '@example.invalid' end as email,
       null::uuid as person_id,
       'users' as _legacy_table,
       src._key as _legacy_key,
       'LOADED' as _disposition,
       null::text as _reason,
       '{}'::jsonb as _detail
from src
