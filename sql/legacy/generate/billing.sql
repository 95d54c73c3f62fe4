-- billing: one table for OP, pharmacy ('AP-'), lab, radiology and IP bills (contract defects 9-17).
-- The subtotal is the sum of the bill's lines (bill_line_qty x bill_line_unit) except where
-- items_total_mismatch adds to it; discount and tax are encoded per writer (newbilling: discount 0,
-- amount in discount_amount; universalPaymentService: discount, discount_amount NULL); total is
-- subtotal - discount + tax (contract Decision 9); amount_paid sums the payments (see
-- billing_payments.sql) except 'credit', including payments whose insert was swallowed.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(ns)s::bigint ns, %(nsdoc)s::bigint nsdoc, %(na)s::bigint na,
                  %(nipe)s::bigint nipe, %(nlabe)s::bigint nlabe, %(nbill)s::bigint nbill, %(bill_fan)s::float8 fan,
                  %(pay_fan)s::float8 pay_fan, %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln, %(unknown_statuses)s::text[] unk),
b as (
    select p.*, n,
           pg_temp.bill_kind(s, n) as kind,
           pg_temp.bill_nlines(s, n, fan) as nl,
           pg_temp.hit(s, 'overpayment', n, (rt->>'overpayment')::float8, nbill) as overpay,
           -- one payment defect per bill where two would hide each other (a pinned row keeps its own)
           pg_temp.hit(s, 'credit_payment', n, (rt->>'credit_payment')::float8, nbill)
               and n not in (pg_temp.pin(s, 'payment_mismatch', nbill), pg_temp.pin(s, 'overpayment', nbill)) as credit,
           pg_temp.hit(s, 'payment_mismatch', n, (rt->>'payment_mismatch')::float8, nbill)
               and not pg_temp.hit(s, 'credit_payment', n, (rt->>'credit_payment')::float8, nbill)
               and n <> pg_temp.pin(s, 'overpayment', nbill) as gap,
           pg_temp.bill_forced(s, n, (rt->>'walk_in_bill')::float8, (rt->>'self_bill')::float8, nbill) as forced,
           pg_temp.hit(s, 'walk_in_bill', n, (rt->>'walk_in_bill')::float8, nbill) as walk0,
           pg_temp.hit(s, 'self_bill', n, (rt->>'self_bill')::float8, nbill) as self0,
           pg_temp.hit(s, 'discount_encoding', n, (rt->>'discount_encoding')::float8, nbill) as disc_conflict
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
c as (
    select b.*,
           -- walk-in and self bills are pharmacy bills (a pinned row becomes one)
           case when forced then 'pharmacy' else kind end as k,
           walk0 and n <> pg_temp.pin(s, 'self_bill', nbill) as walk,
           self0 and not (walk0 and n <> pg_temp.pin(s, 'self_bill', nbill)) as self,
           pg_temp.bill_enc(s, n, kind, forced, na, nipe, nlabe) as e,
           pg_temp.bill_lines_sum(s, n, nl) as sub0,
           pg_temp.bill_npay_eff(s, n, pay_fan, overpay or credit or gap) as npay
    from b
    offset 0
),
d as (
    select c.*,
           pg_temp.bill_issued(s, n, e, false, np, as_of, span) as t0,
           pg_temp.bill_issued(s, n, e, pg_temp.hit(s, 'future_date', n, (rt->>'future_date')::float8, nbill), np, as_of, span) as issued,
           case when pg_temp.hit(s, 'items_total_mismatch', n, (rt->>'items_total_mismatch')::float8, nbill)
                then sub0 + round(sub0 * 0.1 + 5, 2) else sub0 end as sub,
           case when disc_conflict then 10 when pg_temp.r(s, 'bill.disc', n) < 0.2 then (array[5, 10, 15])[1 + (pg_temp.h(s, 'bill.dp', n) %% 3)::int] else 0 end as dpct,
           case when k = 'pharmacy' then 12 else 0 end as taxp
    from c
    offset 0
),
m as (
    select d.*,
           round(sub * dpct / 100, 2) as dsc,
           round((sub - round(sub * dpct / 100, 2)) * taxp / 100, 2) as tax
    from d
    offset 0
),
q as (
    select m.*,
           sub - round(sub * dpct / 100, 2) + tax as billed,
           case when k = 'pharmacy' then 0 else dsc end
               + case when disc_conflict and k <> 'pharmacy' then round(dsc * 0.1 + 1, 2) else 0 end as discount_col,
           case when k = 'pharmacy' or disc_conflict then dsc end as discount_amount_col
    from m
    offset 0
),
z as (
    select q.*,
           (case when npay >= 1 and not credit then pg_temp.pay_amount(s, n, 1, npay, billed, overpay) else 0 end)
           + (case when npay >= 2 then pg_temp.pay_amount(s, n, 2, npay, billed, overpay) else 0 end) as paid,
           case when k = 'pharmacy' then 'AP' when k = 'lab' then 'LB' when k = 'rad' then 'RD' when k = 'ip' then 'IPB' else 'OP' end
               || '-' || to_char(t0, 'YYMM') || '-'
               || case when nbill < 9000 and pg_temp.hit(s, 'bill_number_variant', n, (rt->>'bill_number_variant')::float8, nbill)
                       then (greatest(1000, nbill + 1) + (n * 10007) %% (9999 - greatest(1000, nbill + 1)))::text
                       else pg_temp.pad(n, 4) end as number,
           pg_temp.hit(s, 'future_date', n, (rt->>'future_date')::float8, nbill) as future
    from q
    offset 0
)
insert into billing (id, encounter_id, patient_id, bill_no, currency, subtotal, discount, tax, total, status_id, issued_at,
    created_at, updated_at, discount_type, discount_value, tax_percent, customer_name, customer_phone, customer_type,
    payment_method, payment_status, bill_number, amount_paid, balance_due, staff_id, payment_attachment_url,
    payment_attachment_name, payment_attachment_uploaded_at, payment_attachment_uploaded_by, edited_at, edited_by,
    edit_count, advance_amount, bed_allocation_id, bill_type, cgst_amount, sgst_amount, igst_amount, customer_gstin,
    discount_amount, doctor_id, is_free_bill, self_bill_type)
select pg_temp.uid(s, 'billing', n),
       case when e is not null then pg_temp.uid(s, 'encounter', e) end,
       case when walk then null
            when e is not null then pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np))
            when self then null
            else pg_temp.uid(s, 'patients', pg_temp.ri(s, 'bill.pat', n, np)) end,
       case when k = 'pharmacy' then null else number end,
       'INR',
       sub,
       discount_col,
       tax,
       sub - discount_col + tax,
       case when pg_temp.r(s, 'bill.sid', n) < 0.3 then pg_temp.uid(s, 'ref_code', 20 + pg_temp.ri(s, 'bill.sidv', n, 3)) end,
       issued,
       issued,
       issued,
       case when k = 'pharmacy' and dpct > 0 then 'percent' else 'amount' end,
       case when k = 'pharmacy' and dpct > 0 then dpct else dsc end,
       taxp,
       case when walk then pg_temp.first_name(s, 'wlk', n, fm, ff) || ' ' || pg_temp.last_name(s, 'wlk', n, ln)
            when self then 'Staff self bill' end,
       case when walk then pg_temp.mobile(s, 'wlk', n) end,
       case when walk then 'walk_in' when self then 'self' when k = 'op' then 'op' else 'patient' end,
       case when credit then 'credit'
            when pg_temp.hit(s, 'overloaded_method', n, (rt->>'overloaded_method')::float8, nbill)
                 then (array['gpay', 'other'])[1 + (pg_temp.h(s, 'bill.olm', n) %% 2)::int]
            when npay >= 2 then 'split'
            when npay = 1 then pg_temp.pay_method(s, n, 1)
            else null end,
       case when pg_temp.hit(s, 'unknown_status', n, (rt->>'unknown_status')::float8, nbill) then pg_temp.pick(unk, s, 'bill.unk', n)
            when paid >= billed and paid > 0 then 'paid' when paid > 0 then 'partial' else 'pending' end,
       number,
       paid,
       greatest(billed - paid, 0),
       case when pg_temp.r(s, 'bill.stf', n) < 0.5 then pg_temp.uid(s, 'staff', pg_temp.ri(s, 'bill.stfv', n, ns)) end,
       null, null, null, null, null, null, 0,
       case when k = 'ip' then 2000 * (1 + pg_temp.h(s, 'bill.adv', n) %% 5) else 0 end,
       case when k = 'ip' then pg_temp.uid(s, 'bed_allocations', e - na) end,
       case k when 'pharmacy' then 'pharmacy'
              when 'op' then (array['op', 'outpatient', 'consultation', 'doctor_consultation'])[1 + (pg_temp.h(s, 'bill.bt', n) %% 4)::int]
              when 'lab' then (array['lab', 'diagnostic'])[1 + (pg_temp.h(s, 'bill.bt', n) %% 2)::int]
              when 'rad' then (array['radiology', 'scan', 'xray'])[1 + (pg_temp.h(s, 'bill.bt', n) %% 3)::int]
              when 'ip' then 'bed_charges'
              else (array['others', 'other_bill', null])[1 + (pg_temp.h(s, 'bill.bt', n) %% 3)::int] end,
       round(tax / 2, 2),
       tax - round(tax / 2, 2),
       0,
       null,
       discount_amount_col,
       case when self then pg_temp.uid(s, 'staff', pg_temp.ri(s, 'bill.selfdoc', n, nsdoc)) end,
       case when self then true when k = 'pharmacy' then false end,
       case when self then (array['staff', 'doctor'])[1 + (pg_temp.h(s, 'bill.sbt', n) %% 2)::int] end
from z
