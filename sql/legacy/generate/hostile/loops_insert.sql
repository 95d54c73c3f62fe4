-- Two-row cycles in the bed_allocations transfer chain (source class 'loop_cycle'): two new rows of
-- the source row's patient, both 'transferred', without encounter_id or ip_number. A row continues
-- the 'transferred' row of its patient that was discharged within an hour of its admission: A is
-- [t, t+30 min], B is [t+30 min, t+60 min], so B continues A (admitted when A was transferred) and
-- A continues B (admitted within the hour before B was transferred). Every row ends after it
-- starts: nothing but the chain is wrong. Written from the snapshot of the source row taken before
-- any hostile change.
-- needs: bed_allocations
with src as (
    select b.*, r.vrk, t0.t0
    from _hsrc r
    join pg_temp._hsnap_bed_allocations b on b.id = r.id
    cross join lateral (select coalesce(b.admission_date, pg_temp.at(%(as_of)s::date - 100, 0.5)) as t0) t0
    where r.tbl = 'bed_allocations' and r.cls = 'loop_cycle'
),
pair as (
    select src.*, x.side,
           pg_temp.uid(%(seed)s, 'hostile.loop.bed_allocations', src.vrk * 2 - 2 + x.side) as new_id,
           pg_temp.uid(%(seed)s, 'hostile.loop.bed_allocations', src.vrk * 2 + 1 - x.side) as other_id
    from src cross join (values (1), (2)) x(side)
),
ins as (
    insert into bed_allocations (id, bed_id, patient_id, doctor_id, encounter_id, reason_id, staff_id, ip_number,
        admission_date, discharge_date, admission_type, reason, status, notes, daily_charges, total_charges,
        bed_charges_acknowledged, bed_charges_acknowledged_by, bed_charges_acknowledged_at, bed_charges_edited,
        bed_charges_last_edited_by, bed_charges_last_edited_at, created_at, updated_at, registration_type)
    select new_id, bed_id, patient_id, doctor_id, null, reason_id, staff_id, null,
           case when side = 1 then t0 else t0 + interval '30 minutes' end,
           case when side = 1 then t0 + interval '30 minutes' else t0 + interval '60 minutes' end,
           'transfer', 'Transferred to ward', 'transferred', notes, daily_charges, null,
           false, null, null, false, null, null,
           coalesce(created_at, t0), coalesce(updated_at, t0), registration_type
    from pair
    returning id
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SELF_LOOP', 'bed_allocations', p.new_id::text, 'ACCOUNT', 'REFERENCE_LOOP',
       jsonb_build_object('loop', 'cycle', 'with', p.other_id, 'copied_from', p.id, 'inserted', true)
from pair p join ins on ins.id = p.new_id;
