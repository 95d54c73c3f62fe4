-- core.users. Grain: one row per application login (staff and patient logins alike).
-- Source: users. email is the login (lower-cased; patient logins keep their '<UHID>@annam.com'
-- login address, which is an identifier here, not contact data). person_id links the login to
-- its person (a patient login to the patient's person).
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

final as (
    select
        etl.canonical_id('core.users', 'users', s._key) as user_id,
        etl.norm_email(s.email) as email,
        pm.person_id,
        s.created_at,
        'users'::text as _legacy_table,
        s._key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when pm.person_id is null then jsonb_build_object('warn', 'NO_PERSON') end as _detail
    from src as s
    left join person_map as pm on pm.legacy_key = s._key
)

select * from final
