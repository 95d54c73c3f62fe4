-- billing.fee_rates. Grain: one row per price of a fee over an effective-date range.
-- Sources:
--   * fee_rates: one rate per legacy row (LOADED), of the fee its row became or was merged into
--     (billing.fee_schedules provenance). price = rate_per_unit (NULL: quarantined MISSING_VALUE;
--     negative: NEGATIVE_AMOUNT); unit = unit_type in upper case (per_service, per_day, per_hour,
--     per_item; another value: NULL with a WARN UNMAPPED_VALUE). The legacy table has no dates
--     (Q35: its effective_* columns do not exist): effective_from = the facility-local date the row
--     was created; an inactive rate (is_active false) ended on the date it was last updated
--     (effective_to), an active one is open (NULL).
--   * the prices the legacy rows charged for the derived fees (sql/ref/codes.d/billing.sql), one
--     rate per (fee, price), legacy table 'billing:observed_rate', key '<fee code>|<price>' (the price
--     rounded to paise first: 500, 500.0 and 500.00 are one price and one key, whichever row comes first):
--       DERIVED.CONSULTATION / DERIVED.OP_CARD: patients.consultation_fee / op_card_amount (TEXT,
--         read with etl.try_money), dated by the registration (created_at);
--       DERIVED.BED_DAY_<TYPE>: bed_allocations.daily_charges by the bed's bed_type, dated by the
--         admission (admission_date, IST wall clock, Q28).
--     effective_from = the first date the price was charged, effective_to = the last (NULL for the
--     price charged most recently: still in force). Prices that differ by doctor or bed overlap
--     (the suite reports it as a WARN). Fees priced per line (pharmacy item, lab test, other
--     service, room charges) have no rate: the line's own price is charged.
with fee_map as materialized (
    select m.legacy_key, m.canonical_id as fee_id
    from etl.mapped_ids('billing.fee_schedules', 'fee_rates') as m
    join billing.fee_schedules as f on f.fee_id = m.canonical_id and f.deleted_at is null
),

derived_fees as (
    select f.code, f.fee_id
    from billing.fee_schedules as f
    where f.deleted_at is null and f.category = 'Derived'
),

legacy_rates as (
    select
        etl.canonical_id('billing.fee_rates', 'fee_rates', r._key) as rate_id,
        fm.fee_id,
        case when etl.norm_key(r.unit_type) in ('per_service', 'per_day', 'per_hour', 'per_item')
             then upper(etl.norm_key(r.unit_type)) end as unit,
        r.rate_per_unit as price,
        etl.local_date(r.created_at, %(facility_tz)s) as effective_from,
        case when r.is_active is false
             then greatest(etl.local_date(r.updated_at, %(facility_tz)s), etl.local_date(r.created_at, %(facility_tz)s))
        end as effective_to,
        coalesce(r.created_at, now()) as created_at,
        'fee_rates'::text as _legacy_table,
        r._key as _legacy_key,
        'LOADED'::text as _disposition,
        case
            when fm.fee_id is null then 'ORPHAN_FK'
            when r.rate_per_unit is null then 'MISSING_VALUE'
            when r.rate_per_unit < 0 then 'NEGATIVE_AMOUNT'
        end as _reason,
        case
            when fm.fee_id is null then jsonb_build_object('column', 'service_name', 'rule', 'the fee of the row is not loaded')
            when r.rate_per_unit is null then jsonb_build_object('column', 'rate_per_unit')
            when r.rate_per_unit < 0 then jsonb_build_object('column', 'rate_per_unit', 'amount', r.rate_per_unit)
            when etl.norm_key(r.unit_type) not in ('per_service', 'per_day', 'per_hour', 'per_item')
                 or r.unit_type is null
                then jsonb_build_object('warn', 'UNMAPPED_VALUE', 'column', 'unit_type')
        end as _detail
    from stg.fee_rates as r
    left join fee_map as fm on fm.legacy_key = r._key
    where not r._deleted
),

observed as (
    select 'DERIVED.CONSULTATION'::text as code, 'PER_SERVICE'::text as unit,
           round(etl.try_money(p.consultation_fee), 2) as price, etl.local_date(p.created_at, %(facility_tz)s) as on_date
    from stg.patients as p
    where not p._deleted

    union all

    select 'DERIVED.OP_CARD', 'PER_SERVICE', round(etl.try_money(p.op_card_amount), 2), etl.local_date(p.created_at, %(facility_tz)s)
    from stg.patients as p
    where not p._deleted

    union all

    select
        'DERIVED.BED_DAY_' || coalesce(upper(etl.norm_key(bd.bed_type)), 'UNKNOWN'),
        'PER_DAY',
        round(b.daily_charges, 2),
        etl.local_date(etl.local_wall_clock(b.admission_date, %(facility_tz)s), %(facility_tz)s)
    from stg.bed_allocations as b
    left join stg.beds as bd on bd.id = b.bed_id and not bd._deleted
    where not b._deleted
),

observed_prices as (
    select
        o.code,
        o.unit,
        o.price,
        min(o.on_date) as first_on,
        max(o.on_date) as last_on
    from observed as o
    where o.price > 0 and o.price < 10000000000
    group by 1, 2, 3
),

observed_rates as (
    select
        etl.canonical_id('billing.fee_rates', 'billing:observed_rate', op.code || '|' || op.price::text) as rate_id,
        df.fee_id,
        op.unit,
        op.price,
        op.first_on as effective_from,
        case when op.last_on is distinct from max(op.last_on) over (partition by op.code) then op.last_on end as effective_to,
        now() as created_at,
        'billing:observed_rate'::text as _legacy_table,
        op.code || '|' || op.price::text as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        null::jsonb as _detail
    from observed_prices as op
    join derived_fees as df on df.code = op.code
),

final as (
    select * from legacy_rates
    union all
    select * from observed_rates
)

select * from final
