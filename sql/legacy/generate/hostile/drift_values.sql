-- Values that only a drifted TEXT column can hold (slot class 'drift_junk'): 'abc', 'NaN' (which a
-- numeric cast accepts), a spreadsheet error, the word null. Recorded as HOSTILE_TYPE_DRIFT with
-- the column and value (the table-level facts, legacy_key '*', are written by the generator).

-- needs: vitals
with s as (
    select h.id, case when mod(h.vrk, 2) = 1 then 'heart_rate' else 'temperature' end as col,
           (array['abc', 'NaN', '#VALUE!', 'null'])[mod(h.vrk - 1, 4) + 1] as val
    from _hslot h where h.tbl = 'vitals' and h.cls = 'drift_junk'
),
u as (
    update vitals t set
        heart_rate = case when s.col = 'heart_rate' then s.val else t.heart_rate end,
        temperature = case when s.col = 'temperature' then s.val else t.temperature end
    from s where t.id = s.id
    returning t.id, s.col, s.val
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_TYPE_DRIFT', 'vitals', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', col, 'value', val)
from u;

-- needs: billing_payments
with s as (
    select h.id, (array['abc', 'NaN', '#VALUE!', 'null'])[mod(h.vrk - 1, 4) + 1] as val
    from _hslot h where h.tbl = 'billing_payments' and h.cls = 'drift_junk'
),
u as (update billing_payments t set amount = s.val from s where t.id = s.id returning t.id, s.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_TYPE_DRIFT', 'billing_payments', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', 'amount', 'value', val)
from u;
