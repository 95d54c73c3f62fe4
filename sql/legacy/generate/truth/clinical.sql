-- encounter, appointment, vitals: dead ref_code ids, placeholder encounters, naive timestamps,
-- out-of-range vitals
with p as (select %(vital_ranges)s::jsonb vr)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'dead_ref_code', 'encounter', e.id::text, 'LOAD_FK_NULL', 'ORPHAN_FK',
       jsonb_build_object('column', 'type_id', 'value', e.type_id)
from encounter e
where e.type_id is not null and not exists (select 1 from ref_code r where r.id = e.type_id)
union all
select 'placeholder_encounter', 'encounter', e.id::text, 'LOAD_WITH_WARN', 'PLACEHOLDER_ROW',
       jsonb_build_object('source', 'lab/scan or IP prescribing page')
from encounter e
where e.clinician_id is null and e.department_id is null and e.type_id is null and e.status_id is null
  and not exists (select 1 from appointment a where a.encounter_id = e.id)
union all
select 'naive_timestamp', 'encounter', e.id::text, 'LOAD_WITH_WARN', 'NAIVE_TIMESTAMP',
       jsonb_build_object('column', 'start_at', 'value', e.start_at,
                          'corrected', (e.start_at at time zone 'UTC') at time zone 'Asia/Kolkata',
                          'end_at_corrected', (e.end_at at time zone 'UTC') at time zone 'Asia/Kolkata')
from encounter e
where exists (select 1 from appointment a where a.encounter_id = e.id)
union all
select 'naive_timestamp', 'appointment', a.id::text, 'LOAD_WITH_WARN', 'NAIVE_TIMESTAMP',
       jsonb_build_object('column', 'scheduled_at', 'value', a.scheduled_at,
                          'corrected', (a.scheduled_at at time zone 'UTC') at time zone 'Asia/Kolkata')
from appointment a
union all
select 'vitals_out_of_range', 'vitals', v.id::text, 'QUARANTINE:OUT_OF_RANGE', 'OUT_OF_RANGE',
       jsonb_build_object('column', x.col, 'value', x.val, 'range', p.vr -> x.rkey)
from vitals v
cross join lateral (values ('blood_pressure_systolic', 'bp_systolic', v.blood_pressure_systolic::numeric),
                           ('blood_pressure_diastolic', 'bp_diastolic', v.blood_pressure_diastolic::numeric),
                           ('heart_rate', 'heart_rate', v.heart_rate::numeric),
                           ('temperature', 'temperature_f', v.temperature),
                           ('respiratory_rate', 'respiratory_rate', v.respiratory_rate::numeric),
                           ('oxygen_saturation', 'oxygen_saturation', v.oxygen_saturation::numeric),
                           ('weight', 'weight', v.weight), ('height', 'height', v.height),
                           ('pain_scale', 'pain_scale', v.pain_scale::numeric),
                           ('blood_glucose', 'blood_glucose', v.blood_glucose)) x(col, rkey, val)
cross join p
where x.val is not null and x.val not between (p.vr -> x.rkey ->> 0)::numeric and (p.vr -> x.rkey ->> 1)::numeric
