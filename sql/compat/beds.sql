-- compat view body: beds (legacy shape over inpatient.beds).
-- Grain: one row per legacy beds row LOADED or MERGED in ops.legacy_id_map (canonical_table
-- inpatient.beds) whose canonical bed is live (deleted_at null).
-- Sources: ops.legacy_id_map (the bed's provenance; inpatient.wards <- departments to give the
-- department back as its legacy id), inpatient.beds, ref.codes (the 'map:beds.bed_type' and
-- 'map:beds.status' vocabularies read backwards), ops.legacy_kept (room_number, floor_number,
-- daily_rate, features).
-- Normalisations (the inverse of sql/inpatient/beds.sql):
--   * id: the legacy key; a duplicate bed row (same department, same number up to case/spaces)
--     MERGED into its bed answers under its own id with the surviving bed's values.
--   * bed_number: the canonical label (the legacy number trimmed).
--   * bed_type / status: the legacy code of the canonical value (the mappings are one to one:
--     general, icu, private, semi_private, emergency / available, occupied, maintenance, reserved;
--     a legacy spelling variant reads back in its canonical lower-case form, an unmapped value that
--     loaded NULL reads NULL).
--   * department_id: the legacy departments id whose ward the bed is in (wards.sql: one ward per
--     department); a bed without a ward reads NULL.
--   * updated_at: the kept legacy value (attrs ->> 'updated_at', the application's row-version
--     time; canonical updated_at is the pipeline's write time).
--   * room_number, floor_number, daily_rate, features: the kept legacy values.
with provenance as (
    select m.legacy_key, m.canonical_id
    from ops.legacy_id_map as m
    where m.legacy_table = 'beds'
      and m.canonical_table = 'inpatient.beds'
      and m.disposition in ('LOADED', 'MERGED')
),

beds as (
    select b.*
    from inpatient.beds as b
    where b.deleted_at is null
),

bed_types as (
    select distinct on (c.display) c.display as type, c.code
    from ref.codes as c
    where c.system = 'map:beds.bed_type'
    order by c.display, c.code
),

bed_statuses as (
    select distinct on (c.display) c.display as status, c.code
    from ref.codes as c
    where c.system = 'map:beds.status'
    order by c.display, c.code
),

kept as (
    select k.legacy_key, k.attrs
    from ops.legacy_kept as k
    where k.legacy_table = 'beds'
),

final as (
    select
        p.legacy_key as id,
        b.label as bed_number,
        k.attrs ->> 'room_number' as room_number,
        wd.department_key as department_id,
        bt.code as bed_type,
        k.attrs ->> 'floor_number' as floor_number,
        k.attrs ->> 'daily_rate' as daily_rate,
        bs.code as status,
        (select array_agg(x.v order by x.n)
         from jsonb_array_elements_text(case jsonb_typeof(k.attrs -> 'features') when 'array'
                                             then k.attrs -> 'features' end) with ordinality as x (v, n)) as features,
        b.created_at,
        (k.attrs ->> 'updated_at')::timestamptz as updated_at
    from provenance as p
    join beds as b on b.bed_id = p.canonical_id
    left join lateral (
        select m.legacy_key as department_key
        from ops.legacy_id_map as m
        where m.canonical_table = 'inpatient.wards' and m.canonical_id = b.ward_id
          and m.legacy_table = 'departments'
        order by m.disposition = 'LOADED' desc, m.legacy_key
        limit 1
    ) as wd on true
    left join bed_types as bt on bt.type = b.type
    left join bed_statuses as bs on bs.status = b.status
    left join kept as k on k.legacy_key = p.legacy_key
)

select * from final
