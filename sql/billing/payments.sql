-- billing.payments. Grain: one row per payment received against an invoice. Every legacy payment row
-- is classified once by etl.billing_payment_rows (sql/ddl/096_billing_helpers.sql), the same rows
-- invoices.sql sums into paid_amount.
-- Sources:
--   * billing_payments: one payment per row (LOADED) of a loaded invoice. Method: the row's own
--     (a 'split' bill's methods are its payment rows', Q20), mapped by ref.codes
--     map:billing.payment_method ('gpay' is UPI; unmapped: NULL with a WARN UNMAPPED_VALUE).
--     received_at = paid_at, ref_no = reference. Quarantined, with the money in detail.amount:
--       NOT_A_PAYMENT    method 'credit': an amount put on account (Q20), a receivable, not money
--                        received; the invoice stays unpaid by it (its header's amount_paid
--                        excludes it too) and the amount stays visible here;
--       NEGATIVE_AMOUNT  a refund written as a negative payment (Q19): a payment is > 0; the refund
--                        stays visible with its (negative) amount;
--       ZERO_AMOUNT / MISSING_VALUE  an amount of 0 / none;
--       ORPHAN_FK        billing_id names no bill (no FK, Q19);
--       <bill reason>    the bill cannot load (FUTURE_DATE, NEGATIVE_AMOUNT, ORPHAN_FK).
--   * the ledger, payment_ledger (live) / payment_history (a table in the blueprint profile): the
--     2026-02-15 backfill copied billing_payments into it (Q21). A copy (its notes name the
--     billing_payments row, else exactly one row with the same bill, amount, method and time) is
--     MERGED into the payment it copies (rule COPY), never loaded again; a copy of a row that is not
--     a payment (quarantined) is quarantined DUPLICATE (detail.copy_amount, not counted). A ledger
--     row of a source outside the fixture (source_id naming no bill: other, discharge, ip_billing)
--     is quarantined ORPHAN_FK with its amount and source_type; a ledger row naming a bill that
--     copies nothing is a payment of its own (WARN LEDGER_ONLY).
--   * pharmacy_bills / pharmacy_billing: the payment recorded on the header (PharmacyBillingForm
--     keeps no payment rows): paid_amount (pharmacy_billing: total_amount when payment_status is
--     'paid'), key '<bill id>#payment', method payment_method ('upi' outside the documented CHECK).
-- payment_id = etl.canonical_id('billing.payments', <table>, <key>); invoice_id = the bill's invoice.
-- Legacy columns not carried: received_by / created_by (an auth user, no FK), the ledger's
-- receipt_number, tax halves and notes, updated_at.
with payment_rows as materialized (
    select p.*
    from etl.billing_payment_rows() as p
    where not p.is_deleted
),

headers as materialized (
    select h.legacy_table, h.legacy_key, h.reason
    from etl.billing_headers() as h
    where not h.is_deleted
),

invoices as materialized (
    select i.invoice_id
    from billing.invoices as i
    where i.deleted_at is null
),

methods as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:billing.payment_method'
),

classified as (
    select
        r.*,
        etl.canonical_id('billing.payments', r.legacy_table, r.legacy_key) as payment_id,
        i.invoice_id,
        m.display as method_code,
        case
            when r.kind = 'ORPHAN' then 'ORPHAN_FK'
            when r.kind = 'COPY' then null
            when h.reason is not null then h.reason
            when r.kind = 'CREDIT' then 'NOT_A_PAYMENT'
            when r.kind = 'REFUND' then 'NEGATIVE_AMOUNT'
            when r.kind = 'ZERO' then 'ZERO_AMOUNT'
            when r.kind = 'MISSING' then 'MISSING_VALUE'
            when r.amount >= 10000000000 or r.amount <> round(r.amount, 2) then 'OUT_OF_RANGE'
            when i.invoice_id is null then 'ORPHAN_FK'
        end as reason,
        h.reason as header_reason
    from payment_rows as r
    left join headers as h on h.legacy_table = r.header_table and h.legacy_key = r.header_key
    left join invoices as i
        on i.invoice_id = etl.canonical_id('billing.invoices', r.header_table, r.header_key)
    left join methods as m on m.code = etl.norm_key(r.method)
),

payments as (
    select
        c.payment_id,
        c.invoice_id,
        c.method_code as method,
        c.amount,
        c.paid_at as received_at,
        c.ref_no,
        coalesce(c.created_at, c.paid_at, now()) as created_at,
        c.legacy_table as _legacy_table,
        c.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        c.reason as _reason,
        case
            when c.reason = 'ORPHAN_FK' and c.kind = 'ORPHAN'
                then jsonb_build_object('column', case when c.legacy_table = 'billing_payments' then 'billing_id' else 'source_id' end,
                                        'rule', 'names no bill', 'amount', c.amount)
            when c.reason = 'ORPHAN_FK' then jsonb_build_object('column', 'billing_id', 'rule', 'invoice not loaded', 'amount', c.amount)
            when c.header_reason is not null
                then jsonb_build_object('rule', 'its bill is quarantined', 'bill_table', c.header_table,
                                        'bill_key', c.header_key, 'amount', c.amount)
            when c.reason = 'NOT_A_PAYMENT' then jsonb_build_object('column', 'method', 'rule', 'credit: an amount on account', 'amount', c.amount)
            when c.reason = 'NEGATIVE_AMOUNT' then jsonb_build_object('column', 'amount', 'rule', 'a refund', 'amount', c.amount)
            when c.reason is not null then jsonb_build_object('column', 'amount', 'amount', c.amount)
            when cardinality(w.warns) > 0 then jsonb_build_object('warn', w.warns[1], 'warns', to_jsonb(w.warns))
        end as _detail
    from classified as c
    cross join lateral (
        select array_remove(array[
            case when c.method_code is null then 'UNMAPPED_VALUE' end,
            case when c.legacy_table in ('payment_ledger', 'payment_history') then 'LEDGER_ONLY' end
        ], null) as warns
    ) as w
    where c.kind <> 'COPY'
),

copies as (
    select
        p.payment_id,
        p.invoice_id,
        p.method,
        p.amount,
        p.received_at,
        p.ref_no,
        p.created_at,
        c.legacy_table as _legacy_table,
        c.legacy_key as _legacy_key,
        'MERGED'::text as _disposition,
        case when p.payment_id is null or p._reason is not null then 'DUPLICATE' end as _reason,
        case
            when p.payment_id is null or p._reason is not null
                then jsonb_build_object('rule', 'COPY', 'copy_of', c.copy_of, 'copy_of_reason', coalesce(p._reason, 'NOT_STAGED'),
                                        'copy_amount', c.amount)
            else jsonb_build_object('rule', 'COPY', 'copy_of', c.copy_of)
        end as _detail
    from classified as c
    left join payments as p on p._legacy_table = 'billing_payments' and p._legacy_key = c.copy_of
    where c.kind = 'COPY'
),

final as (
    select * from payments
    union all
    select * from copies
)

select * from final
