-- compat view body: ref_code. Grain: one row per legacy ref_code row LOADED into a ref.codes row
-- (ops.legacy_id_map, canonical_table ref.codes; canonical_id = etl.canonical_id('ref.codes',
-- system, code), ref.codes has no uuid key and no soft delete: a row that exists is live).
-- Sources: ref.codes (system 'legacy.<domain>', code, display), ops.legacy_kept (active).
-- Normalisations: none (domain = system without its 'legacy.' prefix, label = display).
with code_map as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'ref.codes' and m.legacy_table = 'ref_code' and m.disposition in ('LOADED', 'MERGED')
),

legacy_codes as (
    select c.code, c.system, c.display, etl.canonical_id('ref.codes', c.system, c.code) as canonical_id
    from ref.codes as c
    where c.system like 'legacy.%'
),

final as (
    select
        m.legacy_key as id,
        substr(c.system, length('legacy.') + 1) as domain,
        c.code,
        c.display as label,
        k.attrs ->> 'active' as active
    from code_map as m
    join legacy_codes as c on c.canonical_id = m.canonical_id
    left join ops.legacy_kept as k on k.legacy_table = 'ref_code' and k.legacy_key = m.legacy_key
)

select * from final
