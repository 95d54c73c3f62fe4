-- Finance section of the validation report: the open credit and the refunds, one row each: money
-- quarantined NOT_A_PAYMENT (a 'credit' payment row: an amount put on account, a receivable, not
-- money received) or NEGATIVE_AMOUNT (a refund written as a negative payment; a negative bill or
-- bill line), with the bill's number and type (legacy header, etl.billing_headers), its legacy
-- table, the day (facility calendar) and the amount (detail.amount). Never a name or free text.
-- Parameters: facility_tz, max_rows (rows listed; the totals come from finance_reasons.sql).
with headers as materialized (
    select h.legacy_table, h.legacy_key, h.invoice_no, h.bill_type, coalesce(h.issued_at, h.created_at) as at
    from etl.billing_headers() as h
),

q as materialized (
    select q.target_table, q.legacy_table, q.legacy_key, q.reason_code, (q.detail ->> 'amount')::numeric as amount
    from ops.quarantine as q
    where q.resolved_at is null and q.reason_code in ('NOT_A_PAYMENT', 'NEGATIVE_AMOUNT')
      and q.target_table in ('billing.payments', 'billing.invoices', 'billing.charges') and q.detail ? 'amount'
),

listed as (
    select q.reason_code, q.target_table, q.legacy_table, h.invoice_no, h.bill_type, coalesce(r.paid_at, r.created_at, h.at) as at,
           q.amount
    from q
    join etl.billing_payment_rows() as r on r.legacy_table = q.legacy_table and r.legacy_key = q.legacy_key
    left join headers as h on h.legacy_table = r.header_table and h.legacy_key = r.header_key
    where q.target_table = 'billing.payments'

    union all

    select q.reason_code, q.target_table, q.legacy_table, h.invoice_no, h.bill_type, h.at, q.amount
    from q
    left join headers as h on h.legacy_table = q.legacy_table and h.legacy_key = q.legacy_key
    where q.target_table = 'billing.invoices'

    union all

    select q.reason_code, q.target_table, q.legacy_table, h.invoice_no, h.bill_type, coalesce(l.created_at, h.at), q.amount
    from q
    join etl.billing_lines() as l on l.legacy_table = q.legacy_table and l.legacy_key = q.legacy_key
    left join headers as h on h.legacy_table = l.header_table and h.legacy_key = l.header_key
    where q.target_table = 'billing.charges'
)

select
    l.reason_code,
    l.target_table,
    l.legacy_table,
    left(l.invoice_no, 40) as bill_no,
    l.bill_type,
    to_char(timezone(%(facility_tz)s, l.at), 'YYYY-MM-DD') as day,
    l.amount
from listed as l
order by l.reason_code desc, l.at nulls last, l.invoice_no, l.amount
limit %(max_rows)s
