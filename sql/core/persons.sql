-- core.persons. Grain: one row per human being.
-- Sources: patients, users, staff, doctors (Q23, Q26: the same human is scattered across them).
-- Identity rules (one person registry, deduped by email and phone):
--   * patients: duplicate registrations of one person (same normalized name, same mobile number,
--     same date of birth) are MERGED into the earliest registration; fabricated names
--     ('Patient <UHID>') never match anything;
--   * users whose role is 'patient' (etl.is_patient_login) are logins of a patient (employee_id = UHID): MERGED into that
--     patient's person; other users are staff people (LOADED); staff logins with the same e-mail
--     (etl.norm_email) and the same normalized name are one person: MERGED into the earliest
--     (created_at, key);
--   * staff rows: MERGED into a staff user's person by user_id, else by e-mail, else by mobile
--     number (an unambiguous non-patient user); otherwise a person of their own;
--   * doctors have no name (it lives in users.name): MERGED into their user's person, found by
--     users.id or users.auth_id (Q25); a doctor with no user is quarantined (ORPHAN_FK).
-- Fabricated values (Q23) are not carried: names 'Patient <UHID>' and e-mails '<UHID>@annam.com'
-- become NULL and are counted as WARNs; so does a date of birth after the registration date.
-- Names are compared by etl.norm_name (NFKC, case, honorifics, punctuation, spaces; letters of every
-- script kept). A lookup that finds several rows never fails, it takes one by a fixed rule and
-- counts a WARN (AMBIGUOUS_LINK, detail.ambiguous names the lookup): a patient login whose UHID
-- names registrations of several persons -> the earliest registration (created_at, key); a staff
-- row matching several users -> users.id first, then the smallest key; a doctor matching several
-- users -> users.id first, then users.auth_id, then the smallest key.
with patients as (
    select
        s.*,
        etl.norm_name(s.name) as norm_name,
        etl.norm_mobile(s.phone) as mobile,
        etl.norm_email(s.email) as norm_email,
        s.name ~* '^patient\s' as is_fabricated_name,
        etl.norm_email(s.email) = lower(s.patient_id) || '@annam.com' as is_fabricated_email,
        s.date_of_birth > etl.local_date(s.created_at, %(facility_tz)s) as is_born_after_registering
    from stg.patients as s
    where not s._deleted
),

patient_survivors as (
    -- whole table: a new duplicate may arrive in a later run than its survivor
    select
        p._key,
        case
            when p.is_fabricated_name or p.norm_name is null or length(p.mobile) < 10 then p._key
            else first_value(p._key) over (
                partition by p.is_fabricated_name or p.norm_name is null or length(p.mobile) < 10,
                             p.norm_name, p.mobile, p.date_of_birth
                order by p.created_at, p.patient_id, p._key)
        end as survivor_key
    from patients as p
),

users as (
    select
        s.*,
        etl.norm_mobile(s.phone) as mobile,
        etl.norm_email(s.email) as norm_email,
        etl.norm_name(s.name) as norm_name
    from stg.users as s
    where not s._deleted
),

staff as (
    select s.*
    from stg.staff as s
    where not s._deleted
),

doctors as (
    select d.*
    from stg.doctors as d
    where not d._deleted
),

staff_users as (
    select u.* from users as u where not etl.is_patient_login(u.role)
),

-- the person each login belongs to among the logins: staff logins with the same e-mail and name are
-- one person (the earliest owns it); every other login is its own
user_survivors as (
    select
        u._key,
        case when not etl.is_patient_login(u.role) and u.norm_email is not null and u.norm_name is not null
             then first_value(u._key) over (
                 partition by coalesce(not etl.is_patient_login(u.role) and u.norm_email is not null and u.norm_name is not null, false),
                              u.norm_email, u.norm_name
                 order by u.created_at nulls last, u._key)
             else u._key end as survivor_key
    from users as u
),

-- registrations by UHID (legacy patients.patient_id): the person of the earliest one, and how many
-- persons the UHID names
patient_by_uhid as (
    select
        p.patient_id as uhid,
        (array_agg(ps.survivor_key order by p.created_at nulls last, p._key))[1] as survivor_key,
        count(distinct ps.survivor_key) as persons
    from patients as p
    join patient_survivors as ps on ps._key = p._key
    where p.patient_id is not null
    group by p.patient_id
),

staff_user_by_mobile as (
    select min(us.survivor_key) as user_key, u.mobile
    from staff_users as u
    join user_survivors as us on us._key = u._key
    where length(u.mobile) = 10
    group by u.mobile
    having count(distinct us.survivor_key) = 1
),

-- one row per legacy row to process, with the person it belongs to
resolved as (
    select
        'patients'::text as src,
        p._key,
        'patients'::text as person_src,
        ps.survivor_key as person_key,
        null::text as reason,
        null::text as ambiguous
    from patients as p
    join _todo as t on t.legacy_table = 'patients' and t.key = p._key
    join patient_survivors as ps on ps._key = p._key

    union all

    select
        'users',
        u._key,
        case when pu.uhid is not null then 'patients' else 'users' end,
        case when pu.uhid is not null then pu.survivor_key else us.survivor_key end,
        null,
        case when pu.persons > 1 then 'employee_id' end
    from users as u
    join _todo as t on t.legacy_table = 'users' and t.key = u._key
    join user_survivors as us on us._key = u._key
    left join patient_by_uhid as pu on etl.is_patient_login(u.role) and pu.uhid = u.employee_id

    union all

    select
        'staff',
        s._key,
        case when su._key is not null then 'users' else 'staff' end,
        coalesce(su._key, s._key),
        null,
        case when su.matches > 1 then 'user_id/email' end
    from staff as s
    join _todo as t on t.legacy_table = 'staff' and t.key = s._key
    left join lateral (
        select (array_agg(us.survivor_key order by (u.id = s.user_id) desc nulls last, u._key))[1] as _key,
               count(distinct us.survivor_key) as matches
        from staff_users as u
        join user_survivors as us on us._key = u._key
        where u.id = s.user_id
           or (s.user_id is null and u.norm_email = etl.norm_email(s.email))
           or (s.user_id is null and s.email is null and u._key = (
                   select m.user_key from staff_user_by_mobile as m where m.mobile = etl.norm_mobile(s.phone)))
    ) as su on true

    union all

    select
        'doctors',
        d._key,
        'users',
        u._key,
        case when u._key is null then 'ORPHAN_FK' end,
        case when u.matches > 1 then 'user_id' end
    from doctors as d
    join _todo as t on t.legacy_table = 'doctors' and t.key = d._key
    left join lateral (
        select (array_agg(us.survivor_key order by (x.id = d.user_id) desc, x._key))[1] as _key,
               count(distinct us.survivor_key) as matches
        from users as x
        join user_survivors as us on us._key = x._key
        where x.id = d.user_id or x.auth_id = d.user_id
    ) as u on true
),

-- the data of each person comes from its surviving legacy row
person_data as (
    select
        'patients'::text as person_src,
        p._key as person_key,
        case when p.is_fabricated_name then null else split_part(regexp_replace(trim(p.name), '\s+', ' ', 'g'), ' ', 1) end as first_name,
        case when p.is_fabricated_name then null
             else nullif(substr(regexp_replace(trim(p.name), '\s+', ' ', 'g'),
                                length(split_part(regexp_replace(trim(p.name), '\s+', ' ', 'g'), ' ', 1)) + 2), '') end as last_name,
        case when p.is_born_after_registering then null
             else p.date_of_birth end as dob,  -- born after registering: a future date, not carried
        g.display as sex,
        etl.e164_in(p.phone) as phone,
        case when p.is_fabricated_email then null else p.norm_email end as email,
        jsonb_strip_nulls(jsonb_build_object('line', p.address, 'place', p.place, 'city', p.city,
                                             'state', p.state, 'pincode', p.pincode)) as address,
        p.created_at,
        array_remove(array[
            case when p.is_fabricated_name then 'FABRICATED_NAME' end,
            case when p.is_fabricated_email then 'FABRICATED_EMAIL' end,
            case when p.is_born_after_registering then 'FUTURE_DATE' end,
            case when p.gender is not null and g.display is null then 'UNMAPPED_VALUE' end], null) as warns
    from patients as p
    left join ref.codes as g on g.system = 'map:patients.gender' and g.code = etl.norm_key(p.gender)

    union all

    select
        'users',
        u._key,
        split_part(regexp_replace(regexp_replace(trim(u.name), '^(dr\.?\s+)', '', 'i'), '\s+', ' ', 'g'), ' ', 1),
        nullif(substr(regexp_replace(regexp_replace(trim(u.name), '^(dr\.?\s+)', '', 'i'), '\s+', ' ', 'g'),
                      length(split_part(regexp_replace(regexp_replace(trim(u.name), '^(dr\.?\s+)', '', 'i'), '\s+', ' ', 'g'), ' ', 1)) + 2), ''),
        null::date,
        null::text,
        etl.e164_in(u.phone),
        case when etl.is_patient_login(u.role) and u.norm_email like '%%@annam.com' then null else u.norm_email end,
        case when u.address is not null then jsonb_build_object('line', u.address) end,
        u.created_at,
        array[]::text[]
    from users as u

    union all

    select
        'staff',
        s._key,
        initcap(trim(s.first_name)),
        initcap(trim(s.last_name)),
        null::date,
        null::text,
        etl.e164_in(s.phone),
        etl.norm_email(s.email),
        null::jsonb,
        s.created_at,
        array[]::text[]
    from staff as s
),

final as (
    select
        etl.canonical_id('core.persons', r.person_src, r.person_key) as person_id,
        d.first_name,
        d.last_name,
        d.dob,
        d.sex,
        d.phone,
        d.email,
        d.address,
        d.created_at,
        r.src as _legacy_table,
        r._key as _legacy_key,
        case when r.src = r.person_src and r._key = r.person_key then 'LOADED' else 'MERGED' end as _disposition,
        r.reason as _reason,
        case
            when r.reason is not null then jsonb_build_object('rule', 'doctor must have a users row (users.id or users.auth_id)')
            when cardinality(w.warns) > 0
                then jsonb_strip_nulls(jsonb_build_object('warn', w.warns[1], 'warns', to_jsonb(w.warns),
                                                          'ambiguous', r.ambiguous))
        end as _detail
    from resolved as r
    left join person_data as d on d.person_src = r.person_src and d.person_key = r.person_key
    cross join lateral (
        -- the person's data warnings ride on its own row; an ambiguous link on the row that made it
        select case when r.src = r.person_src and r._key = r.person_key then d.warns else '{}'::text[] end
               || case when r.ambiguous is not null then array['AMBIGUOUS_LINK'] else '{}'::text[] end as warns
    ) as w
)

select * from final
