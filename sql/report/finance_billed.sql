-- Finance section of the validation report: what was billed, legacy beside canonical, by bill type,
-- by month and in total, with the difference attributed to quarantine reasons.
-- Parameters: facility_tz (months are the facility's calendar months).
-- Legacy side: every live legacy bill header (etl.billing_headers: billing, pharmacy_bills,
-- pharmacy_billing, billing_summary) read from the staged legacy rows; its amount is subtotal -
-- discount + tax ("the amount column wins"), its bill type the header's mapped one, its month the
-- month issued (else created). Canonical side: the live billing.invoices (due_amount; paid_amount
-- is what billing.payments received on them; outstanding: due - paid of the ISSUED ones), same
-- month rule (a DRAFT has no issue date: the month it was created). Explained: the money held in
-- ops.quarantine (detail.amount) for the header (a whole bill: FUTURE_DATE, NEGATIVE_AMOUNT,
-- ORPHAN_FK; its unitemized subtotal: ITEMS_TOTAL_MISMATCH) and for its lines (billing.charges:
-- NEGATIVE_AMOUNT, ZERO_QTY, OUT_OF_RANGE, ...), on the header's bill type and month. A line
-- quarantined with its bill's reason carries no amount (counted once, on the bill); a line whose
-- bill is not in the snapshot is on no bill's total (not billed).
-- Output: one row per (dim, key, reason): dim 'bill_type' | 'month' | 'total'; reason NULL for the
-- legacy and canonical figures, else the quarantine reason of the explained amount. Amounts only.
with headers as materialized (
    select
        h.legacy_table,
        h.legacy_key,
        h.bill_type,
        h.billed,
        to_char(timezone(%(facility_tz)s, coalesce(h.issued_at, h.created_at)), 'YYYY-MM') as month
    from etl.billing_headers() as h
    where not h.is_deleted
),

quarantined as materialized (
    select q.target_table, q.legacy_table, q.legacy_key, q.reason_code, (q.detail ->> 'amount')::numeric as amount
    from ops.quarantine as q
    where q.resolved_at is null and q.target_table in ('billing.invoices', 'billing.charges') and q.detail ? 'amount'
),

lines as (
    select l.legacy_table, l.legacy_key, l.header_table, l.header_key
    from etl.billing_lines() as l
    where not l.is_deleted
),

facts as (
    select h.bill_type, h.month, null::text as reason,
           1 as legacy_bills, h.billed as legacy_amount,
           0 as invoices, 0::numeric as invoiced, 0::numeric as received, 0::numeric as outstanding,
           0 as explained_rows, 0::numeric as explained
    from headers as h

    union all

    select coalesce(i.bill_type, 'OTHER'),
           to_char(timezone(%(facility_tz)s, coalesce(i.issued_at, i.created_at)), 'YYYY-MM'),
           null, 0, 0, 1, coalesce(i.due_amount, 0), coalesce(i.paid_amount, 0),
           case when i.status = 'ISSUED' then coalesce(i.due_amount, 0) - coalesce(i.paid_amount, 0) else 0 end,
           0, 0
    from billing.invoices as i
    where i.deleted_at is null

    union all

    -- a whole bill, or the unitemized part or the unapplied discount (negative) of a loaded one
    select h.bill_type, h.month, q.reason_code, 0, 0, 0, 0, 0, 0, 1, q.amount
    from headers as h
    join quarantined as q
        -- one equality (a hash join), as in billing/invoices.checks/billed_per_patient.sql: the IN of
        -- three keys alone was a nested loop over every bill (204 s at 100k patients)
        on q.target_table = 'billing.invoices' and q.legacy_table = h.legacy_table
       and split_part(q.legacy_key, '#', 1) = h.legacy_key
       and q.legacy_key in (h.legacy_key, h.legacy_key || '#unitemized', h.legacy_key || '#unapplied_discount')

    union all

    -- lines of a bill
    select h.bill_type, h.month, q.reason_code, 0, 0, 0, 0, 0, 0, 1, q.amount
    from quarantined as q
    join lines as l on l.legacy_table = q.legacy_table and l.legacy_key = q.legacy_key
    join headers as h on h.legacy_table = l.header_table and h.legacy_key = l.header_key
    where q.target_table = 'billing.charges'
)

select
    case when grouping(f.bill_type) = 0 then 'bill_type' when grouping(f.month) = 0 then 'month' else 'total' end as dim,
    case when grouping(f.bill_type) = 0 then f.bill_type when grouping(f.month) = 0 then f.month end as key,
    f.reason,
    sum(f.legacy_bills)::bigint as legacy_bills,
    sum(f.legacy_amount) as legacy_amount,
    sum(f.invoices)::bigint as invoices,
    sum(f.invoiced) as invoiced,
    sum(f.received) as received,
    sum(f.outstanding) as outstanding,
    sum(f.explained_rows)::bigint as explained_rows,
    sum(f.explained) as explained
from facts as f
group by grouping sets ((f.bill_type, f.reason), (f.month, f.reason), (f.reason))
order by 1, 2, 3
