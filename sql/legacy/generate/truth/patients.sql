-- patients: duplicates (generator intent, checked against the rows), fabricated values, TEXT vitals
-- and money, free-text doctor names, future dates of birth, naive admission timestamps.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(as_of)s::date as_of, %(rates)s::jsonb rt,
                  %(vital_ranges)s::jsonb vr, %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln),
dup as (
    select k, pg_temp.pat_person(s, k, (rt->>'duplicate_patient')::float8, np) as q, s
    from p, generate_series(1, p.np) k
),
tv as (
    select t.id, v.col, v.val, t.temp_unit
    from patients t
    cross join lateral (values ('height', t.height), ('weight', t.weight), ('bmi', t.bmi), ('temperature', t.temperature),
                               ('bp_systolic', t.bp_systolic), ('bp_diastolic', t.bp_diastolic), ('pulse', t.pulse),
                               ('spo2', t.spo2), ('respiratory_rate', t.respiratory_rate),
                               ('random_blood_sugar', t.random_blood_sugar)) v(col, val)
    where nullif(trim(v.val), '') is not null
),
tvc as (
    select tv.*,
           case when col = 'temperature' and temp_unit ilike '%%c%%' then 'temperature_c'
                when col = 'temperature' then 'temperature_f' else col end as rkey,
           val ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$' as numeric_ok
    from tv
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'duplicate_patient', 'patients', t.id::text, 'MERGE_INTO:' || src.id::text, 'DUPLICATE',
       jsonb_build_object('uhid', t.patient_id, 'same_person_as_uhid', src.patient_id)
from dup
join patients t on t.id = pg_temp.uid(dup.s, 'patients', dup.k)
join patients src on src.id = pg_temp.uid(dup.s, 'patients', dup.q)
where dup.q <> dup.k
union all
select 'fabricated_name', 'patients', id::text, 'LOAD_WITH_WARN', 'FABRICATED_VALUE',
       jsonb_build_object('column', 'name', 'value', name, 'corrected', null)
from patients where name = 'Patient ' || patient_id
union all
select 'fabricated_email', 'patients', id::text, 'LOAD_WITH_WARN', 'FABRICATED_VALUE',
       jsonb_build_object('column', 'email', 'value', email, 'corrected', null)
from patients where email = patient_id || '@annam.com'
union all
select case when numeric_ok then 'text_vitals_out_of_range' else 'text_vitals_unparseable' end,
       'patients', id::text,
       case when numeric_ok then 'QUARANTINE:OUT_OF_RANGE' else 'QUARANTINE:UNPARSEABLE_VALUE' end,
       case when numeric_ok then 'OUT_OF_RANGE' else 'UNPARSEABLE_VALUE' end,
       jsonb_build_object('column', col, 'value', val, 'range', p.vr -> rkey)
from tvc, p
where not numeric_ok
   or trim(val)::numeric not between (p.vr -> rkey ->> 0)::numeric and (p.vr -> rkey ->> 1)::numeric
union all
select 'text_money', 'patients', t.id::text, 'LOAD_WITH_WARN', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', v.col, 'value', v.val, 'corrected', null)
from patients t
cross join lateral (values ('op_card_amount', t.op_card_amount), ('consultation_fee', t.consultation_fee),
                           ('total_amount', t.total_amount)) v(col, val)
where nullif(trim(v.val), '') is not null and v.val !~ '^\s*[0-9]+(\.[0-9]+)?\s*$'
union all
select 'free_text_doctor', 'patients', t.id::text, 'LOAD_WITH_WARN', 'FREE_TEXT_REF',
       jsonb_build_object('column', 'consulting_doctor_name', 'value', t.consulting_doctor_name,
                          'doctor_id', pg_temp.uid(p.s, 'doctors', pg_temp.ri(p.s, 'pat.doc', k, p.nd)),
                          'canonical', pg_temp.doctor_name(p.s, pg_temp.ri(p.s, 'pat.doc', k, p.nd), p.fm, p.ff, p.ln))
from p cross join generate_series(1, p.np) k
join patients t on t.id = pg_temp.uid(p.s, 'patients', k)
where pg_temp.hit(p.s, 'free_text_doctor', k, (p.rt->>'free_text_doctor')::float8, p.np)
union all
select 'future_date', 'patients', id::text, 'LOAD_WITH_WARN', 'FUTURE_DATE',
       jsonb_build_object('column', 'date_of_birth', 'value', date_of_birth, 'corrected', null)
from patients, p where date_of_birth > p.as_of
union all
select 'naive_timestamp', 'patients', id::text, 'LOAD_WITH_WARN', 'NAIVE_TIMESTAMP',
       jsonb_build_object('column', 'admission_date', 'value', admission_date,
                          'corrected', (admission_date at time zone 'UTC') at time zone 'Asia/Kolkata')
from patients where admission_date is not null
