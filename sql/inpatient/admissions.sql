-- inpatient.admissions. Grain: one row per inpatient admission (one IPD encounter each).
-- Sources:
--   * bed_allocations: the real IP admissions (Q33). Rows are grouped per admission and the
--     group's opening row gives the ids (rule in one place: etl.admission_key /
--     etl.bed_allocation_admissions, sql/ddl/091_inpatient_helpers.sql). The opening row is
--     LOADED, the group's other rows (transfers) are MERGED into it.
--     admit_at = opening admission_date, discharge_at = the group's last row's discharge_date, both
--     IST wall clock stored as UTC (Q28) -> etl.local_wall_clock (the same values as the IPD
--     encounter's start_at/end_at). reason: discharge and transfer overwrite bed_allocations.reason
--     (Q33), so only a row still 'active' holds the admission reason: the earliest active row's
--     reason, else NULL.
--   * patient_admissions (blueprint profile): a discharge-attempt header of the same admission,
--     linked by bed_allocation_id: MERGED into that admission with a WARN (ORPHAN_HEADER: it has no
--     lines, Q34). A header whose bed_allocation_id is NULL or names no live allocation is
--     quarantined (ORPHAN_FK).
-- The admission's encounter is etl.canonical_id('clinical.encounters', 'bed_allocations', <opening
-- key>) (emitted by clinical.encounters); when it is not loaded (e.g. unknown patient) the whole
-- admission is quarantined (ORPHAN_FK).
-- Incremental: every row of an admission touched this run (any of its allocations or headers
-- changed) is re-emitted, so a transfer added later re-derives discharge_at.
with allocations as (
    select a.*
    from etl.bed_allocation_admissions() as a
),

headers as (
    select h.*
    from etl.staged_patient_admissions() as h
),

touched as (
    select a.admission_key
    from allocations as a
    join _todo as t on t.legacy_table = 'bed_allocations' and t.key = a.allocation_key

    union

    select a.admission_key
    from headers as h
    join _todo as t on t.legacy_table = 'patient_admissions' and t.key = h._key
    join allocations as a on a.allocation_key = h.bed_allocation_id::text
),

live_allocations as (
    select
        a.allocation_key,
        a.admission_key,
        a.seq,
        a.is_last,
        a.opening_key,
        b.admission_date,
        b.discharge_date,
        b.status,
        b.reason,
        b.created_at
    from allocations as a
    join stg.bed_allocations as b on b._key = a.allocation_key
    where not a.is_deleted
      and a.admission_key in (select admission_key from touched)
),

-- the reason of an admission: its first active allocation's (one row per admission; a correlated
-- subquery over the allocations per admission was quadratic)
admission_reasons as (
    select distinct on (a.admission_key) a.admission_key, nullif(trim(a.reason), '') as reason
    from live_allocations as a
    where etl.norm_key(a.status) = 'active'
    order by a.admission_key, a.seq
),

admissions as (
    select
        o.admission_key,
        o.allocation_key as opening_key,
        etl.canonical_id('inpatient.admissions', 'bed_allocations', o.allocation_key) as admission_id,
        e.encounter_id,
        coalesce(etl.local_wall_clock(o.admission_date, %(facility_tz)s), o.created_at) as admit_at,
        etl.local_wall_clock(l.discharge_date, %(facility_tz)s) as discharge_at,
        ar.reason,
        coalesce(o.created_at, o.admission_date) as created_at
    from live_allocations as o
    join live_allocations as l on l.admission_key = o.admission_key and l.is_last
    left join admission_reasons as ar on ar.admission_key = o.admission_key
    left join clinical.encounters as e
        on e.encounter_id = etl.canonical_id('clinical.encounters', 'bed_allocations', o.allocation_key)
       and e.deleted_at is null
    where o.seq = 1
),

-- every legacy row of the touched admissions (allocations and linked headers), plus changed headers
-- that link to no live allocation
legacy_rows as (
    select
        'bed_allocations'::text as legacy_table,
        la.allocation_key as legacy_key,
        la.admission_key,
        la.seq = 1 as is_opening
    from live_allocations as la

    union all

    select
        'patient_admissions',
        h._key,
        la.admission_key,
        false
    from headers as h
    left join live_allocations as la on la.allocation_key = h.bed_allocation_id::text
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as t on t.legacy_table = 'patient_admissions' and t.key = h._key
    where not h._deleted
      and (la.allocation_key is not null or t.key is not null)
),

final as (
    select
        ad.admission_id,
        ad.encounter_id,
        ad.admit_at,
        ad.discharge_at,
        ad.reason,
        etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
        ad.created_at,
        r.legacy_table as _legacy_table,
        r.legacy_key as _legacy_key,
        case when r.is_opening then 'LOADED' else 'MERGED' end as _disposition,
        case when ad.admission_id is null or ad.encounter_id is null then 'ORPHAN_FK' end as _reason,
        case
            when ad.admission_id is null
                then jsonb_build_object('column', 'bed_allocation_id', 'rule', 'header links to no live bed allocation')
            when ad.encounter_id is null
                then jsonb_build_object('column', 'encounter_id', 'rule', 'IPD encounter of the admission not loaded')
            when r.legacy_table = 'patient_admissions'
                then jsonb_build_object('warn', 'ORPHAN_HEADER', 'rule', 'discharge header without lines')
        end as _detail
    from legacy_rows as r
    left join admissions as ad on ad.admission_key = r.admission_key
)

select * from final
