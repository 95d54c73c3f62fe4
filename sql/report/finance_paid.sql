-- Finance section of the validation report: money received, legacy beside canonical, by payment
-- method, by month and in total, with the difference attributed to quarantine reasons.
-- Parameters: facility_tz (months are the facility's calendar months).
-- Legacy side: every live legacy payment row that is not a copy (etl.billing_payment_rows:
-- billing_payments, the ledger's own rows, the payment on a pharmacy bill header) read from the
-- staged legacy rows, amount as written (refunds negative, credit on account included), method
-- mapped by ref.codes map:billing.payment_method (NULL: unmapped), month of paid_at (else created).
-- The ledger's copies of billing_payments rows repeat money already counted: on neither side.
-- Canonical side: the live billing.payments (amount, method, month of received_at, else created).
-- Explained: the amount ops.quarantine holds for the legacy row (detail.amount: NOT_A_PAYMENT
-- credit on account, NEGATIVE_AMOUNT refunds, ORPHAN_FK rows naming no bill, the bill's reason,
-- ZERO_AMOUNT, MISSING_VALUE, OUT_OF_RANGE), on the legacy row's method and month.
-- Output: one row per (dim, key, reason): dim 'method' | 'month' | 'total'; reason NULL for the
-- legacy and canonical figures, else the quarantine reason of the explained amount. Amounts only.
with methods as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:billing.payment_method'
),

rows_ as materialized (
    select
        r.legacy_table,
        r.legacy_key,
        r.amount,
        m.display as method,
        to_char(timezone(%(facility_tz)s, coalesce(r.paid_at, r.created_at)), 'YYYY-MM') as month
    from etl.billing_payment_rows() as r
    left join methods as m on m.code = etl.norm_key(r.method)
    where not r.is_deleted and r.kind <> 'COPY'
),

facts as (
    select r.method, r.month, null::text as reason,
           1 as legacy_rows, coalesce(r.amount, 0) as legacy_amount,
           0 as payments, 0::numeric as received,
           0 as explained_rows, 0::numeric as explained
    from rows_ as r

    union all

    select p.method, to_char(timezone(%(facility_tz)s, coalesce(p.received_at, p.created_at)), 'YYYY-MM'),
           null, 0, 0, 1, coalesce(p.amount, 0), 0, 0
    from billing.payments as p
    where p.deleted_at is null

    union all

    select r.method, r.month, q.reason_code, 0, 0, 0, 0, 1, (q.detail ->> 'amount')::numeric
    from rows_ as r
    join ops.quarantine as q
        on q.target_table = 'billing.payments' and q.legacy_table = r.legacy_table and q.legacy_key = r.legacy_key
       and q.resolved_at is null and q.detail ? 'amount'
)

select
    case when grouping(f.method) = 0 then 'method' when grouping(f.month) = 0 then 'month' else 'total' end as dim,
    case when grouping(f.method) = 0 then coalesce(f.method, '(unmapped)') when grouping(f.month) = 0 then f.month end as key,
    f.reason,
    sum(f.legacy_rows)::bigint as legacy_rows,
    sum(f.legacy_amount) as legacy_amount,
    sum(f.payments)::bigint as payments,
    sum(f.received) as received,
    sum(f.explained_rows)::bigint as explained_rows,
    sum(f.explained) as explained
from facts as f
group by grouping sets ((f.method, f.reason), (f.month, f.reason), (f.reason))
order by 1, 2, 3
