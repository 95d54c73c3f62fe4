-- Inpatient migration rules shared by several transforms (clinical.encounters, inpatient.admissions,
-- inpatient.bed_allocations), kept in one place. Idempotent (create or replace).
-- The plpgsql functions read stg.* tables, which the engine creates at staging time: plpgsql
-- bodies are resolved when called, so this file applies on a fresh database.

-- The admission each legacy bed_allocations row belongs to (Q33: the real IP admissions are the
-- bed_allocations rows; a transfer closes a row with status 'transferred' and opens another for the
-- same admission). Grouping, in order:
--   1. rows of one patient that name the same legacy encounter (encounter_id) are one admission:
--      the transfer row repeats the admission's encounter but not its ip_number, which is UNIQUE;
--   2. else a row's ip_number (trimmed) is its admission;
--   3. else a row that starts within an hour of the discharge_date of a 'transferred' row of the
--      same patient continues that row's admission (the nearest one; followed along the chain);
--   4. else the row is an admission of its own.
-- Rule 3 never loops: a row never continues itself, each row continues at most one row, and the
-- chain is followed from rows that continue nothing (at most 1000 steps), so rows whose chain
-- returns to itself (A continues B, B continues A) are reached by no chain and are admissions of
-- their own (rule 4). An instant at the type's limits ('infinity') continues nothing.
-- The group's earliest live row by admission_date (then created_at, then key) OPENS the admission;
-- its key gives the ids: admission_id = etl.canonical_id('inpatient.admissions', 'bed_allocations',
-- <opening key>), the IPD encounter = etl.canonical_id('clinical.encounters', 'bed_allocations',
-- <opening key>). Returns every staged row (deleted ones flagged, seq/is_last NULL) with its group
-- key, its rank among the group's live rows (seq 1 = opening), whether it is the group's last row
-- (latest admission_date) and the group's opening key.
create or replace function etl.bed_allocation_admissions()
returns table (
    allocation_key text,
    is_deleted boolean,
    admission_key text,
    seq bigint,
    is_last boolean,
    opening_key text
)
language plpgsql
stable
as $$
begin
    return query
    with recursive allocations as (
        select
            b._key,
            b._deleted,
            b.patient_id,
            b.status,
            b.admission_date,
            b.discharge_date,
            b.created_at,
            case
                when b.patient_id is not null and b.encounter_id is not null
                    then 'pe:' || b.patient_id::text || '/' || b.encounter_id::text
                when nullif(trim(b.ip_number), '') is not null then 'ip:' || trim(b.ip_number)
            end as own_key
        from stg.bed_allocations as b
    ),

    -- rule 3: the transferred row a keyless row continues
    continues as (
        select distinct on (r._key)
            r._key,
            p._key as previous_key
        from allocations as r
        join allocations as p
            on p.patient_id = r.patient_id
           and p._key <> r._key
           and not p._deleted
           and etl.norm_key(p.status) = 'transferred'
           and isfinite(p.discharge_date)
           and r.admission_date between etl.ts_add(p.discharge_date, interval '-1 hour')
                                    and etl.ts_add(p.discharge_date, interval '1 hour')
        where r.own_key is null
        order by r._key, abs(extract(epoch from r.admission_date - p.discharge_date)), p._key
    ),

    chained (_key, admission_key, depth) as (
        select a._key, coalesce(a.own_key, 'row:' || a._key), 0
        from allocations as a
        where not exists (select 1 from continues as c where c._key = a._key)

        union all

        select c._key, ch.admission_key, ch.depth + 1
        from continues as c
        join chained as ch on ch._key = c.previous_key
        where ch.depth < 1000
    ),

    grouped as (
        select
            a._key,
            a._deleted,
            coalesce(ch.admission_key, 'row:' || a._key) as admission_key,
            a.admission_date,
            a.created_at
        from allocations as a
        left join chained as ch on ch._key = a._key
    ),

    ranked as (
        select
            g._key,
            g.admission_key,
            row_number() over (
                partition by g.admission_key
                order by g.admission_date nulls last, g.created_at nulls last, g._key
            ) as seq,
            row_number() over (
                partition by g.admission_key
                order by g.admission_date desc nulls first, g.created_at desc nulls first, g._key desc
            ) as seq_desc
        from grouped as g
        where not g._deleted
    ),

    openings as (
        select r.admission_key, r._key as opening_key from ranked as r where r.seq = 1
    )

    select
        g._key,
        g._deleted,
        g.admission_key,
        r.seq,
        r.seq_desc = 1,
        o.opening_key
    from grouped as g
    left join ranked as r on r._key = g._key
    left join openings as o on o.admission_key = g.admission_key;
end;
$$;

comment on function etl.bed_allocation_admissions() is
    'Staged bed_allocations rows with their admission (Q33: same encounter, else ip_number, else transfer chain), rank and opening row key';

-- Staged patient_admissions rows (blueprint profile; the table does not exist in the live profile,
-- where this returns no rows), so transforms can read them without failing on a missing stg table.
create or replace function etl.staged_patient_admissions()
returns table (
    _key text,
    _deleted boolean,
    patient_id uuid,
    bed_allocation_id uuid,
    admission_date timestamptz,
    discharge_date timestamptz,
    status text,
    created_at timestamptz
)
language plpgsql
stable
as $$
begin
    if to_regclass('stg.patient_admissions') is null then
        return;
    end if;
    return query execute
        'select p._key, p._deleted, p.patient_id, p.bed_allocation_id, p.admission_date, p.discharge_date,
                p.status::text, p.created_at
         from stg.patient_admissions as p';
end;
$$;

comment on function etl.staged_patient_admissions() is
    'stg.patient_admissions rows, or none when the legacy profile has no such table';
