-- billing.fee_schedules. Grain: one row per billable fee in the catalog (a service with a price of
-- its own, e.g. 'OP Consultation', 'ICU', 'CBC'; its prices are billing.fee_rates).
-- Sources:
--   * fee_rates: each legacy service is a fee (LOADED): name = service_name (blanks trimmed), category
--     = its fee_categories name, department_id = the one core.departments row of that name (matched
--     by etl.norm_key; none or several: NULL). Rows repeating a (category, service) by case or blanks
--     (a re-run seed, hostile copies) are one fee: the earliest (created_at, key) is LOADED, the
--     others MERGED (rule SAME_NAME). A service without a name is quarantined (MISSING_VALUE).
--     code: the fee's own, CATEGORY.SERVICE in upper case with every run of other characters as '_'
--     ('CONSULTATION.OP_CONSULTATION'); at most 60 characters; a code two fees would share (or a
--     name with no Latin letter or digit) gets '.' + 6 hex of the legacy key appended.
--   * fee_categories: a category is no fee; its name is the category column of its fees. The row is
--     MERGED into the first fee (by code) of its category (or of the category of the same
--     normalized name: a case copy); a category with no live fee at all has nothing to bill and is
--     quarantined (NO_FEES). Contract defect 29 (6 categories, 14 rates, not the DDL seed's 10/16):
--     the live rows are taken, never the seed.
--   * the fees the legacy data implies but never listed (ref.codes 'billing:derived_fee',
--     sql/ref/codes.d/billing.sql): consultation and OP card (patients), bed day per bed type
--     (bed_allocations), room charges (billing_summary), pharmacy item, lab test and other service
--     (bill lines naming no catalog fee). LOADED under legacy table 'billing:derived_fee' (key = the
--     code); category 'Derived'.
-- legacy columns: fee_categories.description/is_active and fee_rates.description are dropped (a
-- category's description is '<name> charges'; is_active of a rate is its effective_to, see
-- fee_rates.sql); rate_per_unit and unit_type are the fee's rate (billing.fee_rates).
with categories as (
    select
        c._key,
        nullif(btrim(c.name), '') as name,
        etl.norm_key(c.name) as name_key,
        c.created_at
    from stg.fee_categories as c
    where not c._deleted
),

departments as (
    select etl.norm_key(d.name) as name_key, min(d.department_id::text)::uuid as department_id
    from core.departments as d
    where d.deleted_at is null
    group by 1
    having count(*) = 1
),

services as (
    select
        r._key,
        nullif(btrim(r.service_name), '') as name,
        etl.norm_key(r.service_name) as name_key,
        c.name as category,
        coalesce(c.name_key, '') as category_key,
        r.created_at
    from stg.fee_rates as r
    left join categories as c on c._key = r.category_id::text
    where not r._deleted
),

-- one fee per (category, service) as normalized; the earliest row carries it
fee_groups as (
    select
        s.*,
        first_value(s._key) over w as survivor_key,
        row_number() over w as rn
    from services as s
    where s.name is not null
    window w as (partition by s.category_key, s.name_key order by s.created_at nulls last, s._key)
),

slugs as (
    select
        g.survivor_key,
        left(
            upper(btrim(regexp_replace(coalesce(g.category_key, ''), '[^a-z0-9]+', '_', 'g'), '_'))
            || '.'
            || upper(btrim(regexp_replace(g.name_key, '[^a-z0-9]+', '_', 'g'), '_')),
            60) as slug
    from fee_groups as g
    where g.rn = 1
),

codes as (
    select
        s.survivor_key,
        case
            when s.slug ~ '(^\.|\.$)' or count(*) over (partition by s.slug) > 1
                 and row_number() over (partition by s.slug order by s.survivor_key) > 1
                then s.slug || '.' || upper(left(md5(s.survivor_key), 6))
            else s.slug
        end as code
    from slugs as s
),

legacy_fees as (
    select
        etl.canonical_id('billing.fee_schedules', 'fee_rates', g.survivor_key) as fee_id,
        dp.department_id,
        c.code,
        g.name,
        g.category,
        coalesce(g.created_at, now()) as created_at,
        'fee_rates'::text as _legacy_table,
        g._key as _legacy_key,
        case when g.rn = 1 then 'LOADED' else 'MERGED' end as _disposition,
        null::text as _reason,
        case when g.rn > 1 then jsonb_build_object('rule', 'SAME_NAME', 'survivor', g.survivor_key) end as _detail
    from fee_groups as g
    join codes as c on c.survivor_key = g.survivor_key
    left join departments as dp on dp.name_key = nullif(g.category_key, '')
),

unnamed as (
    select
        null::uuid as fee_id,
        null::uuid as department_id,
        null::text as code,
        null::text as name,
        s.category,
        coalesce(s.created_at, now()) as created_at,
        'fee_rates'::text as _legacy_table,
        s._key as _legacy_key,
        'LOADED'::text as _disposition,
        'MISSING_VALUE'::text as _reason,
        jsonb_build_object('column', 'service_name', 'rule', 'a fee without a name') as _detail
    from services as s
    where s.name is null
),

-- a category row: merged into the first fee of its normalized name
category_rows as (
    select
        f.fee_id,
        f.department_id,
        f.code,
        f.name,
        f.category,
        f.created_at,
        'fee_categories'::text as _legacy_table,
        c._key as _legacy_key,
        'MERGED'::text as _disposition,
        case when f.fee_id is null then 'NO_FEES' end as _reason,
        case
            when f.fee_id is null then jsonb_build_object('rule', 'a category with no live fee')
            else jsonb_build_object('rule', 'CATEGORY', 'fees', f.fees)
        end as _detail
    from categories as c
    left join lateral (
        select lf.*, count(*) over () as fees
        from legacy_fees as lf
        join fee_groups as g on g._key = lf._legacy_key
        where lf._disposition = 'LOADED' and g.category_key = coalesce(c.name_key, '')
        order by lf.code
        limit 1
    ) as f on true
),

derived as (
    select
        etl.canonical_id('billing.fee_schedules', 'billing:derived_fee', d.code) as fee_id,
        null::uuid as department_id,
        d.code,
        d.display as name,
        'Derived'::text as category,
        now() as created_at,
        'billing:derived_fee'::text as _legacy_table,
        d.code as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        null::jsonb as _detail
    from ref.codes as d
    where d.system = 'billing:derived_fee'
),

final as (
    select * from legacy_fees
    union all
    select * from unnamed
    union all
    select * from category_rows
    union all
    select * from derived
)

select * from final
