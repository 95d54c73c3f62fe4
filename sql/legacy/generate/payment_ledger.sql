-- {target} (payment_ledger live; payment_history as a table in the blueprint profile): the
-- 2026-02-15 backfill, one row per non-negative billing_payments row (source_type 'pharmacy' for
-- pharmacy bills, else 'op_billing'), plus rows from sources outside the fixture whose source_id
-- resolves to nothing (3 other : 1 discharge : 5 ip_billing) (contract defects 18, 21).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nforeign)s::bigint nforeign, %(as_of)s::date as_of)
insert into {target} (id, source_type, source_id, patient_id, payment_date, amount, payment_method, reference_number,
                      receipt_number, cgst_amount, sgst_amount, igst_amount, notes, created_by, created_at, updated_at,
                      deleted_at)
select md5(p.s::text || ':ledger:' || bp.id::text)::uuid,
       case when bl.bill_type = 'pharmacy' then 'pharmacy' else 'op_billing' end,
       bp.billing_id,
       bl.patient_id,
       bp.paid_at,
       bp.amount,
       bp.method,
       bp.reference,
       'RCP-' || upper(left(md5(p.s::text || ':rcp:' || bp.id::text), 20)),
       0, 0, 0,
       'backfill billing_payments:' || bp.id::text,
       bp.received_by,
       bp.created_at,
       bp.created_at,
       null::timestamptz
from p cross join billing_payments bp
left join billing bl on bl.id = bp.billing_id
where bp.amount > 0
union all
select pg_temp.uid(s, 'payment_ledger_foreign', i),
       (array['other', 'other', 'other', 'discharge', 'ip_billing', 'ip_billing', 'ip_billing', 'ip_billing', 'ip_billing'])[1 + ((i - 1) %% 9)::int],
       pg_temp.uid(s, 'foreign_source', i),
       pg_temp.uid(s, 'patients', pg_temp.ri(s, 'plf.pat', i, np)),
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'plf.d', i) %% 300)::int, 0.4),
       round((500 + pg_temp.r(s, 'plf.amt', i) * 20000)::numeric, 2),
       (array['cash', 'upi', 'neft', 'card'])[1 + (pg_temp.h(s, 'plf.pm', i) %% 4)::int],
       null::text,
       'RCF-' || pg_temp.pad(i, 6),
       0, 0, 0,
       'backfill ' || (array['other_bill_payments', 'discharge_payments', 'ip_payment_receipts'])[case when (i - 1) %% 9 < 3 then 1 when (i - 1) %% 9 = 3 then 2 else 3 end],
       null,
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'plf.d', i) %% 300)::int, 0.4),
       pg_temp.at(as_of - 1 - (pg_temp.h(s, 'plf.d', i) %% 300)::int, 0.4),
       null
from p cross join generate_series(1, p.nforeign) i
