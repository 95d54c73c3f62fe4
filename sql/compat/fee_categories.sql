-- compat view body: fee_categories. Grain: one row per legacy fee_categories row MERGED into a live
-- billing.fee_schedules row (a category is no fee of its own: sql/billing/fee_schedules.sql merges it
-- into the first fee, by code, of its category). A category with no live fee is quarantined
-- (NO_FEES) and comes from the archive (the wrapper).
-- Sources: ops.legacy_id_map, billing.fee_schedules (that the fee is live), ops.legacy_kept.
-- Values:
--   id           the legacy key;
--   name, description, is_active, created_at, updated_at: from the kept store, as written (the fee's
--   category is the spelling of the category it belongs to: a case or blank copy of a category
--   cannot give its own spelling back, so the name is kept).
-- Normalisations: none beyond the wrapper's (a key repeated in a legacy table without its primary
-- key shows once).
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'fee_categories'
      and m.canonical_table = 'billing.fee_schedules'
      and m.disposition in ('LOADED', 'MERGED')
),

fees as (
    select f.fee_id
    from billing.fee_schedules as f
    where f.deleted_at is null
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'fee_categories'
),

final as (
    select
        p.legacy_key as id,
        k.attrs ->> 'name' as name,
        k.attrs ->> 'description' as description,
        k.attrs ->> 'is_active' as is_active,
        k.attrs ->> 'created_at' as created_at,
        k.attrs ->> 'updated_at' as updated_at
    from provenance as p
    join fees as f on f.fee_id = p.canonical_id
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
