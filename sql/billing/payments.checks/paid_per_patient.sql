-- Legacy paid = canonical paid + quarantined amounts, per patient and (summed) in total. Every live
-- legacy payment row that is not a copy (billing_payments, the ledger's own rows, the payment on a
-- pharmacy bill header; etl.billing_payment_rows): expected = its amount as written (refunds
-- negative); actual = the payments billing.payments holds + the amounts quarantined with a reason
-- (NOT_A_PAYMENT 'credit' on account, NEGATIVE_AMOUNT refunds, ORPHAN_FK, the bill's reason...).
-- The ledger's copies of billing_payments rows are MERGED into the payment they copy (or
-- quarantined DUPLICATE) and counted on neither side. Subject: the canonical patient id of the bill;
-- '*walk_in' / '*staff_self' for counter sales; '*no_bill' for rows that name no bill;
-- 'legacy:<patients id>' for a patient that is not loaded. Exact numeric comparison.
with headers as materialized (
    select h.* from etl.billing_headers() as h where not h.is_deleted
),

patient_ref as materialized (
    select r.legacy_key, r.patient_id from etl.patient_refs('') as r
),

rows_ as materialized (
    select p.* from etl.billing_payment_rows() as p where not p.is_deleted and p.kind <> 'COPY'
),

subjects as (
    select
        r.legacy_table,
        r.legacy_key,
        r.amount,
        case
            when h.legacy_key is null then '*no_bill'
            else coalesce(pr.patient_id::text,
                          case when h.patient_key is null then '*' || lower(h.buyer_type) else 'legacy:' || h.patient_key end)
        end as subject
    from rows_ as r
    left join headers as h on h.legacy_table = r.header_table and h.legacy_key = r.header_key
    left join patient_ref as pr on pr.legacy_key = h.patient_key
),

actual as (
    select coalesce(i.patient_id::text, '*' || lower(i.buyer_type)) as subject, p.amount
    from subjects as s
    join billing.payments as p
        on p.payment_id = etl.canonical_id('billing.payments', s.legacy_table, s.legacy_key) and p.deleted_at is null
    join billing.invoices as i on i.invoice_id = p.invoice_id

    union all

    select s.subject, (q.detail ->> 'amount')::numeric
    from subjects as s
    join ops.quarantine as q
        on q.target_table = 'billing.payments' and q.legacy_table = s.legacy_table and q.legacy_key = s.legacy_key
       and q.resolved_at is null and q.detail ? 'amount'
),

expected as (
    select s.subject, sum(coalesce(s.amount, 0)) as amount from subjects as s group by 1
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
