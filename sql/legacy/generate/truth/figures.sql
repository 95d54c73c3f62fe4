-- conservation figures, computed from the generated rows and the defects recorded above
with p as (select %(packs_until)s::date packs_until, %(as_of)s::date as_of),
value_level as (select unnest(array['text_vitals_unparseable', 'text_vitals_out_of_range', 'vitals_out_of_range']) as kind),
future_bills as (select legacy_key from hms_truth.defects where kind = 'future_date' and legacy_table = 'billing'),
per_key as (
    select kind, legacy_key, count(*) as n from hms_truth.defects
    where kind in ('vitals_out_of_range', 'text_vitals_unparseable', 'text_vitals_out_of_range')
    group by kind, legacy_key
),
tvq as (
    select legacy_key, sum(n) as n from per_key
    where kind in ('text_vitals_unparseable', 'text_vitals_out_of_range') group by legacy_key
),
lrv as (select lab_report_id, count(*) as n from lab_result_value group by lab_report_id),
bills as (
    select bl.id, bl.patient_id, bl.subtotal - coalesce(bl.discount_amount, bl.discount) + bl.tax as billed
    from billing bl where bl.id::text not in (select legacy_key from future_bills)
)
insert into hms_truth.figures (name, key, value)
select 'analytes_per_lab_report', lr.id::text,
       coalesce(jsonb_array_length(lr.results), lrv.n, 0)
from lab_reports lr left join lrv on lrv.lab_report_id = lr.id
union all
select 'vitals_rows_per_vitals', v.id::text,
       num_nonnulls(v.blood_pressure_systolic, v.blood_pressure_diastolic, v.heart_rate, v.temperature, v.respiratory_rate,
                    v.oxygen_saturation, v.weight, v.height, v.pain_scale, v.blood_glucose)
       - coalesce(pk.n, 0)
from vitals v left join per_key pk on pk.kind = 'vitals_out_of_range' and pk.legacy_key = v.id::text
union all
select 'vitals_rows_per_patient_text', t.id::text,
       num_nonnulls(nullif(trim(t.height), ''), nullif(trim(t.weight), ''), nullif(trim(t.bmi), ''), nullif(trim(t.temperature), ''),
                    nullif(trim(t.bp_systolic), ''), nullif(trim(t.bp_diastolic), ''), nullif(trim(t.pulse), ''),
                    nullif(trim(t.spo2), ''), nullif(trim(t.respiratory_rate), ''), nullif(trim(t.random_blood_sugar), ''))
       - coalesce(tvq.n, 0)
from patients t left join tvq on tvq.legacy_key = t.id::text
where num_nonnulls(nullif(trim(t.height), ''), nullif(trim(t.weight), ''), nullif(trim(t.bmi), ''), nullif(trim(t.temperature), ''),
                   nullif(trim(t.bp_systolic), ''), nullif(trim(t.bp_diastolic), ''), nullif(trim(t.pulse), ''),
                   nullif(trim(t.spo2), ''), nullif(trim(t.respiratory_rate), ''), nullif(trim(t.random_blood_sugar), '')) > 0
union all
select 'stock_on_hand_units', coalesce(mb.medication_id, mb.medicine_id)::text || '|' || mb.batch_number,
       sum(mb.current_quantity * case when mb.received_date < p.packs_until
                                      then coalesce(substring(mb.notes from 'pack of ([0-9]+)')::int, 1) else 1 end)
from medicine_batches mb cross join p
where exists (select 1 from medications m where m.id = coalesce(mb.medication_id, mb.medicine_id))
group by 2
union all
select 'money_billed', coalesce(patient_id::text, '*no_patient'), sum(billed)
from bills group by 2
union all
select 'money_paid', coalesce(b.patient_id::text, '*no_patient'), sum(bp.amount)
from billing_payments bp join bills b on b.id = bp.billing_id
where bp.amount > 0 and bp.method <> 'credit'
group by 2
union all
select 'quarantined_rows', legacy_table || '|' || reason, count(distinct legacy_key)
from hms_truth.defects
where expected like 'QUARANTINE:%%' and kind not in (select kind from value_level)
group by 2
union all
select 'quarantined_values', legacy_table || '|' || reason, count(*)
from hms_truth.defects
where expected like 'QUARANTINE:%%' and kind in (select kind from value_level)
group by 2
union all
select 'distinct_medicines', '*',
       (select count(*) from medications)
       - (select count(*) from hms_truth.defects where kind = 'duplicate_drug' and legacy_table = 'medications')
