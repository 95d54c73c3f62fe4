-- core.users. Grain: one row per application login (staff and patient logins alike).
-- Source: users. email is the login (etl.norm_email: trimmed, lower-cased; patient logins keep
-- their '<UHID>@annam.com' login address, which is an identifier here, not contact data).
-- person_id links the login to its person (a patient login to the patient's person).
-- Two legacy logins of ONE person whose addresses differ only in case or spaces are one login: the
-- earliest (created_at, then key) is LOADED, the others MERGED into it. Logins of different persons
-- that share an address are both emitted; the engine's pre-flight keeps the first and quarantines
-- the other (DUPLICATE_KEY on the unique e-mail).
with src as (
    select s.*
    from stg.users as s
    join _todo as t on t.legacy_table = 'users' and t.key = s._key
    where not s._deleted
),

person_map as materialized (
    select pm.legacy_key, pm.canonical_id as person_id
    from etl.mapped_ids('core.persons', 'users') as pm
),

-- the login each legacy row is: the earliest live row with the same person and address
logins as (
    select
        u._key,
        case when pm.person_id is not null and etl.norm_email(u.email) is not null
             then first_value(u._key) over (
                 partition by pm.person_id is not null and etl.norm_email(u.email) is not null,
                              pm.person_id, etl.norm_email(u.email)
                 order by u.created_at nulls last, u._key)
             else u._key end as login_key
    from stg.users as u
    left join person_map as pm on pm.legacy_key = u._key
    where not u._deleted
),

final as (
    select
        etl.canonical_id('core.users', 'users', l.login_key) as user_id,
        etl.norm_email(s.email) as email,
        pm.person_id,
        s.created_at,
        'users'::text as _legacy_table,
        s._key as _legacy_key,
        case when l.login_key = s._key then 'LOADED' else 'MERGED' end as _disposition,
        null::text as _reason,
        case when pm.person_id is null then jsonb_build_object('warn', 'NO_PERSON') end as _detail
    from src as s
    join logins as l on l._key = s._key
    left join person_map as pm on pm.legacy_key = s._key
)

select * from final
