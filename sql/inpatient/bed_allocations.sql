-- inpatient.bed_allocations. Grain: one row per stay of an admission in a bed: one per legacy
-- bed_allocations row. Source: bed_allocations.
-- admission: the admission of the row's group (etl.bed_allocation_admissions: the opening row's
-- key gives the id); an admission that is not loaded quarantines the row (ORPHAN_FK).
-- bed: the bed the legacy bed row became (provenance: a duplicate legacy bed row is MERGED into its
-- bed, see beds.sql); a bed_id that is NULL or not loaded leaves bed_id NULL with a WARN (ORPHAN_FK).
-- start_at/end_at: admission_date/discharge_date, IST wall clock stored as UTC (Q28), converted:
-- counted as a WARN (NAIVE_TIMESTAMP). Legacy values with no canonical column are checked and
-- warned, not carried: ip_number in the short IP{YY}{NN} format (FORMAT_VARIANT) and an
-- admission_type outside both documented CHECKs (emergency, elective, scheduled, transfer; Q29:
-- UNKNOWN_STATUS). detail.warns lists every warning of a row, detail.warn is the first.
-- One active allocation per bed at a time: on each (physical) bed, rows ordered by start (then created_at,
-- key); a row that starts before the latest end of the earlier rows (an open row never ends)
-- overlaps them and is quarantined (OVERLAPPING_ALLOCATION): the later one loses, set-based.
-- Incremental: the rows of every bed and admission touched this run are re-evaluated, so a change
-- to one allocation re-decides its neighbours' overlaps.
with allocations as (
    select a.*
    from etl.bed_allocation_admissions() as a
),

-- legacy bed key -> the canonical bed it loaded as (LOADED or MERGED)
bed_map as materialized (
    select bm.legacy_key, bm.canonical_id as bed_id
    from etl.mapped_ids('inpatient.beds', 'beds') as bm
),

staged as (
    select
        a.allocation_key,
        a.admission_key,
        a.opening_key,
        b.bed_id as legacy_bed_id,
        bm.bed_id as mapped_bed_id,
        -- the physical bed (the canonical one when the legacy bed is loaded)
        coalesce(bm.bed_id::text, 'legacy:' || b.bed_id::text) as bed_key,
        etl.local_wall_clock(b.admission_date, %(facility_tz)s) as start_at,
        etl.local_wall_clock(b.discharge_date, %(facility_tz)s) as end_at,
        coalesce(b.created_at, b.admission_date) as created_at,
        array_remove(array[
            case when b.ip_number !~ '^IP[0-9]{8,}$' then 'FORMAT_VARIANT' end,
            case when b.admission_type not in ('emergency', 'elective', 'scheduled', 'transfer')
                 then 'UNKNOWN_STATUS' end,
            case when b.admission_date is not null then 'NAIVE_TIMESTAMP' end
        ], null) as legacy_warns
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    left join bed_map as bm on bm.legacy_key = b.bed_id::text
    where not a.is_deleted
),

touched_keys as (
    select a.allocation_key, a.admission_key, coalesce(bm.bed_id::text, 'legacy:' || b.bed_id::text) as bed_key
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    join _todo as t on t.legacy_table = 'bed_allocations' and t.key = a.allocation_key
    left join bed_map as bm on bm.legacy_key = b.bed_id::text
),

bed_overlaps as (
    select
        s.allocation_key,
        s.start_at < max(coalesce(s.end_at, 'infinity'::timestamptz)) over (
            partition by s.bed_key
            order by s.start_at nulls last, s.created_at nulls last, s.allocation_key
            rows between unbounded preceding and 1 preceding
        ) as is_overlapping
    from staged as s
    where s.bed_key is not null
      and s.bed_key in (select bed_key from touched_keys)
),

src as (
    -- joins to de-duplicated sets, not "x in (...) or y in (...)": see the work filters of
    -- clinical/encounters.sql
    select s.*
    from staged as s
    left join (select distinct admission_key from touched_keys) as ta on ta.admission_key = s.admission_key
    left join (select distinct bed_key from touched_keys) as tb on tb.bed_key = s.bed_key
    where ta.admission_key is not null or tb.bed_key is not null
),

final as (
    select
        etl.canonical_id('inpatient.bed_allocations', 'bed_allocations', s.allocation_key) as allocation_id,
        ad.admission_id,
        bd.bed_id,
        s.start_at,
        s.end_at,
        s.created_at,
        'bed_allocations'::text as _legacy_table,
        s.allocation_key as _legacy_key,
        'LOADED'::text as _disposition,
        case
            when ad.admission_id is null then 'ORPHAN_FK'
            when o.is_overlapping then 'OVERLAPPING_ALLOCATION'
        end as _reason,
        case
            when ad.admission_id is null
                then jsonb_build_object('column', 'admission_id', 'rule', 'admission of the allocation not loaded')
            when o.is_overlapping
                then jsonb_build_object('column', 'bed_id', 'rule', 'starts before an earlier allocation of the bed ends')
            when cardinality(w.warns) > 0
                then jsonb_build_object('warn', w.warns[1], 'warns', to_jsonb(w.warns))
        end as _detail
    from src as s
    left join inpatient.admissions as ad
        on ad.admission_id = etl.canonical_id('inpatient.admissions', 'bed_allocations', s.opening_key)
       and ad.deleted_at is null
    left join inpatient.beds as bd on bd.bed_id = s.mapped_bed_id and bd.deleted_at is null
    left join bed_overlaps as o on o.allocation_key = s.allocation_key
    cross join lateral (
        select case when bd.bed_id is null then array['ORPHAN_FK'] else '{}'::text[] end || s.legacy_warns as warns
    ) as w
)

select * from final
