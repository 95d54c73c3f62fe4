-- compat view body: fee_rates. Grain: one row per legacy fee_rates row LOADED into, or MERGED
-- (SAME_NAME) into, a live billing.fee_schedules row (ops.legacy_id_map): every named service is a
-- fee; its price is the billing.fee_rates row of the same legacy id, when that loaded (a row without
-- a price has a fee but no rate: it shows with rate_per_unit NULL).
-- Sources: billing.fee_schedules (service name), billing.fee_rates (price, unit, dates),
-- ops.legacy_id_map, ops.legacy_kept (kept columns).
-- Values:
--   id             the legacy key;
--   service_name   fee_schedules.name of the row's fee;
--   rate_per_unit  fee_rates.price;
--   unit_type      fee_rates.unit in lower case (PER_DAY -> per_day);
--   is_active      effective_to is null (the transform ends an inactive rate on its last update);
--   created_at     fee_rates.created_at;
--   category_id (the fee's category is a name; with case copies of a category several legacy ids
--   answer to it), description, updated_at: from the kept store.
-- Normalisations: service_name trimmed, and a row repeating a (category, service) by case or blanks
-- shows the survivor's spelling (SAME_NAME); a unit_type outside per_service|per_day|per_hour|
-- per_item (or in another case) shows the code in lower case, or NULL; a NULL is_active shows
-- true; a row whose price did not load (MISSING_VALUE, NEGATIVE_AMOUNT) shows rate_per_unit,
-- unit_type, is_active and created_at NULL.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'fee_rates'
      and m.canonical_table = 'billing.fee_schedules'
      and m.disposition in ('LOADED', 'MERGED')
),

fees as (
    select f.fee_id, f.name
    from billing.fee_schedules as f
    where f.deleted_at is null
),

rate_provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'fee_rates'
      and m.canonical_table = 'billing.fee_rates'
),

rates as (
    select r.rate_id, r.unit, r.price, r.effective_to, r.created_at
    from billing.fee_rates as r
    where r.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'fee_rates'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'category_id' as category_id,
        f.name as service_name,
        r.price as rate_per_unit,
        lower(r.unit) as unit_type,
        k.attrs ->> 'description' as description,
        case when r.rate_id is not null then r.effective_to is null end as is_active,
        r.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join fees as f on f.fee_id = p.canonical_id
    left join rate_provenance as rp on rp.legacy_key = p.legacy_key
    left join rates as r on r.rate_id = rp.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
