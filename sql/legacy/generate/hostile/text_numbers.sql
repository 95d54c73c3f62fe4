-- Numbers in TEXT with a comma (thousands or decimal), a unit, or a range (slot class
-- 'text_number'): the patients TEXT vitals and money columns (contract defect 19 already puts some
-- unparseable strings there) and the columns this profile drifts to TEXT (vitals.heart_rate and
-- temperature, billing_payments.amount). One defect per value written.

-- needs: patients
with s as (
    select h.id,
           (array['height', 'weight', 'temperature', 'pulse', 'bp_systolic', 'total_amount', 'consultation_fee',
                  'op_card_amount'])[mod(h.vrk - 1, 8) + 1] as col,
           (array['comma', 'unit', 'range'])[mod(h.vrk - 1, 3) + 1] as style
    from _hslot h where h.tbl = 'patients' and h.cls = 'text_number'
),
v as (
    select s.*, case s.col || ':' || s.style
        when 'height:comma' then '170,5' when 'height:unit' then '170 cm' when 'height:range' then '165-170'
        when 'weight:comma' then '65,5' when 'weight:unit' then '65 kg' when 'weight:range' then '60-65'
        when 'temperature:comma' then '98,6' when 'temperature:unit' then '98.6 °F' when 'temperature:range' then '98-99'
        when 'pulse:comma' then '78,0' when 'pulse:unit' then '78 bpm' when 'pulse:range' then '70 to 80'
        when 'bp_systolic:comma' then '1,20' when 'bp_systolic:unit' then '120 mmHg' when 'bp_systolic:range' then '120-130'
        when 'total_amount:comma' then '1,500' when 'total_amount:unit' then 'Rs. 1,500/-' when 'total_amount:range' then '1000-1500'
        when 'consultation_fee:comma' then '1,000.00' when 'consultation_fee:unit' then '500 INR'
        when 'consultation_fee:range' then '300 - 500'
        when 'op_card_amount:comma' then '1,00,000' when 'op_card_amount:unit' then '₹100'
        when 'op_card_amount:range' then '50-100' end as val
    from s
),
u as (
    update patients t set
        height = case when v.col = 'height' then v.val else t.height end,
        weight = case when v.col = 'weight' then v.val else t.weight end,
        temperature = case when v.col = 'temperature' then v.val else t.temperature end,
        pulse = case when v.col = 'pulse' then v.val else t.pulse end,
        bp_systolic = case when v.col = 'bp_systolic' then v.val else t.bp_systolic end,
        total_amount = case when v.col = 'total_amount' then v.val else t.total_amount end,
        consultation_fee = case when v.col = 'consultation_fee' then v.val else t.consultation_fee end,
        op_card_amount = case when v.col = 'op_card_amount' then v.val else t.op_card_amount end
    from v where t.id = v.id
    returning t.id, v.col, v.val, v.style
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_TEXT_NUMBER', 'patients', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', col, 'value', val, 'style', style)
from u;

-- vitals (heart_rate and temperature are TEXT in this profile): odd ranks heart_rate, even temperature
-- needs: vitals
with s as (
    select h.id, case when mod(h.vrk, 2) = 1 then 'heart_rate' else 'temperature' end as col,
           (array['comma', 'unit', 'range'])[mod(h.vrk - 1, 3) + 1] as style
    from _hslot h where h.tbl = 'vitals' and h.cls = 'text_number'
),
v as (
    select s.*, case s.col || ':' || s.style
        when 'heart_rate:comma' then coalesce(t.heart_rate, '72') || ',0'
        when 'heart_rate:unit' then coalesce(t.heart_rate, '72') || ' bpm'
        when 'heart_rate:range' then coalesce(t.heart_rate, '72') || '-' || (coalesce(t.heart_rate, '72')::int + 10)::text
        when 'temperature:comma' then replace(coalesce(t.temperature, '98.6'), '.', ',')
        when 'temperature:unit' then coalesce(t.temperature, '98.6') || ' °F'
        when 'temperature:range' then coalesce(t.temperature, '98.6') || '-' || (coalesce(t.temperature, '98.6')::numeric + 1)::text
        end as val
    from s join vitals t on t.id = s.id
),
u as (
    update vitals t set
        heart_rate = case when v.col = 'heart_rate' then v.val else t.heart_rate end,
        temperature = case when v.col = 'temperature' then v.val else t.temperature end
    from v where t.id = v.id
    returning t.id, v.col, v.val, v.style
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_TEXT_NUMBER', 'vitals', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', col, 'value', val, 'style', style)
from u;

-- billing_payments.amount (TEXT in this profile): Indian digit grouping, a currency, a range
-- needs: billing_payments
with s as (
    select h.id, (array['comma', 'unit', 'range'])[mod(h.vrk - 1, 3) + 1] as style
    from _hslot h where h.tbl = 'billing_payments' and h.cls = 'text_number'
),
v as (
    select s.*, case s.style
        when 'comma' then to_char(t.amount::numeric, 'FM99,99,99,990.00')
        when 'unit' then 'Rs. ' || t.amount
        else t.amount || '-' || (t.amount::numeric + 100)::text end as val
    from s join billing_payments t on t.id = s.id
),
u as (update billing_payments t set amount = v.val from v where t.id = v.id returning t.id, v.val, v.style)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_TEXT_NUMBER', 'billing_payments', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', 'amount', 'value', val, 'style', style)
from u;
