-- Legacy billed = canonical invoiced + quarantined amounts, per patient and (summed) in total. For
-- every live legacy bill header (billing, pharmacy_bills, pharmacy_billing, billing_summary; amount =
-- subtotal - discount + tax by "the amount column wins", etl.billing_headers): expected = the legacy
-- bill amount; actual = the invoice's due_amount (billing.invoices, derived from its charges) + the
-- amounts quarantined for its lines (billing.charges: NEGATIVE_AMOUNT, ZERO_QTY, OUT_OF_RANGE...) and
-- for its unitemized subtotal (ITEMS_TOTAL_MISMATCH), or, when the whole bill is quarantined
-- (FUTURE_DATE, NEGATIVE_AMOUNT, ORPHAN_FK), the amount quarantined with it. Subject: the canonical
-- patient id; '*walk_in' / '*staff_self' for counter sales; 'legacy:<patients id>' for a patient
-- that is not loaded. Exact numeric comparison.
with headers as materialized (
    select h.* from etl.billing_headers() as h where not h.is_deleted
),

patient_ref as materialized (
    select r.legacy_key, r.patient_id from etl.patient_refs('') as r
),

subjects as (
    select
        h.legacy_table,
        h.legacy_key,
        h.billed,
        coalesce(pr.patient_id::text,
                 case when h.patient_key is null then '*' || lower(h.buyer_type) else 'legacy:' || h.patient_key end) as subject
    from headers as h
    left join patient_ref as pr on pr.legacy_key = h.patient_key
),

quarantined as (
    select q.target_table, q.legacy_table, q.legacy_key, (q.detail ->> 'amount')::numeric as amount
    from ops.quarantine as q
    where q.resolved_at is null and q.target_table in ('billing.invoices', 'billing.charges') and q.detail ? 'amount'
),

lines as (
    select l.legacy_table, l.legacy_key, l.header_table, l.header_key
    from etl.billing_lines() as l
    where not l.is_deleted
),

actual as (
    -- loaded invoices, by the invoice's own patient
    select coalesce(i.patient_id::text, '*' || lower(i.buyer_type)) as subject, i.due_amount as amount
    from subjects as s
    join billing.invoices as i
        on i.invoice_id = etl.canonical_id('billing.invoices', s.legacy_table, s.legacy_key) and i.deleted_at is null

    union all

    -- a quarantined bill, or the unitemized part or the unapplied discount (negative) of a loaded one
    select s.subject, q.amount
    from subjects as s
    join quarantined as q
        -- one equality (a hash join); the IN of two keys was a nested loop over every bill (> 2 min at 100k)
        on q.target_table = 'billing.invoices' and q.legacy_table = s.legacy_table
       and split_part(q.legacy_key, '#', 1) = s.legacy_key
       and q.legacy_key in (s.legacy_key, s.legacy_key || '#unitemized', s.legacy_key || '#unapplied_discount')

    union all

    -- quarantined lines of a bill
    select s.subject, q.amount
    from quarantined as q
    join lines as l on l.legacy_table = q.legacy_table and l.legacy_key = q.legacy_key
    join subjects as s on s.legacy_table = l.header_table and s.legacy_key = l.header_key
    where q.target_table = 'billing.charges'
),

expected as (
    select s.subject, sum(s.billed) as amount from subjects as s group by 1
),

actual_by_subject as (
    select a.subject, sum(a.amount) as amount from actual as a group by 1
)

select
    coalesce(e.subject, a.subject) as subject,
    coalesce(e.amount, 0) as expected,
    coalesce(a.amount, 0) as actual
from expected as e
full join actual_by_subject as a on a.subject = e.subject
