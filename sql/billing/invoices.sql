-- billing.invoices. Grain: one row per legacy bill header (an invoice issued to a patient, or a
-- counter sale). Shared rules: sql/ddl/096_billing_helpers.sql (etl.billing_headers,
-- etl.billing_payment_rows).
-- Sources: billing (OP, pharmacy, lab, radiology, IP bills), pharmacy_bills, pharmacy_billing
-- (blueprint profile), billing_summary (discharge headers, blueprint profile). One invoice per
-- header (LOADED), id etl.canonical_id('billing.invoices', <table>, <key>).
-- Columns:
--   patient_id   the bill's patient (core.patients through provenance; a duplicate registration
--                resolves to its survivor). A walk-in counter sale (no patient, Q16) and a staff /
--                doctor self bill (customer_type 'self') keep patient_id NULL with buyer_type
--                WALK_IN / STAFF_SELF: the buyer is nobody the hospital registered, and a made-up
--                walk-in patient would mix unrelated customers into one person; the buyer's name and
--                phone are not carried (they stay in the legacy row, reachable through provenance).
--   encounter_id / admission_id  the admission of the bill's bed_allocation_id (IP bills; discharge
--                headers through patient_admissions) and its encounter, else the bill's own
--                encounter (legacy encounter_id; not loaded: NULL with a WARN ORPHAN_FK).
--   bill_type, invoice_no, buyer_type, issued_at (the header's; a DRAFT has none)
--   discount_amount / tax_amount  the header's, by the rule "the amount column wins" (Q15).
--   due_amount   the sum of the bill's loaded charges (its lines, billing.charges) - discount +
--                tax: derived from the lines, never copied from the header (subtotal, total,
--                balance_due). A header subtotal the lines do not sum to is a WARN
--                ITEMS_TOTAL_MISMATCH with both figures, and the unitemized amount (subtotal - lines)
--                is quarantined as '<key>#unitemized' (ITEMS_TOTAL_MISMATCH, detail.amount) so that
--                the money stays visible and counted.
--   paid_amount  the sum of the bill's payments (etl.billing_payment_rows kind PAYMENT: the rows
--                billing.payments loads), never the header's amount_paid / paid_amount; a header
--                that disagrees is a WARN PAYMENT_MISMATCH with both figures. 'credit' (an amount on
--                account, Q20) and negative refunds (Q19) are not payments (see payments.sql).
--   status       VOID when the legacy status is 'cancelled'; DRAFT for a discharge header without
--                payments (a discharge attempt that never completed, Q34); PAID when the payments
--                cover the due amount; else ISSUED. A legacy status that says otherwise is a WARN
--                DERIVED_STATUS with both; an unknown one UNKNOWN_STATUS.
-- legacy_attributes: the header's own claims (bill_type, payment_status and payment_method as written,
-- at most 40 characters; subtotal, total, amount_paid) beside the lines' sum, the unitemized amount
-- and the row's warnings, so both figures of a disagreement stay on the invoice.
-- Warnings (detail.warns, figures in detail.figures: amounts only): ENCODING_CONFLICT,
-- FORMAT_VARIANT, UNMAPPED_VALUE, UNKNOWN_STATUS, AMBIGUOUS_REF (self bill's doctor_id), ORPHAN_HEADER
-- (discharge header), ITEMS_TOTAL_MISMATCH, PAYMENT_MISMATCH, OVERPAYMENT, DERIVED_STATUS,
-- VOCAB_VARIANT (payment_method 'split', 'credit', 'gpay', 'other', Q17), FREE_TEXT_REF (a walk-in's
-- buyer snapshot, not carried), ORPHAN_FK (encounter).
-- Quarantined (detail.amount = the bill amount): FUTURE_DATE, NEGATIVE_AMOUNT, ORPHAN_FK (patient
-- not loaded), as decided by etl.billing_headers for the bill's charges and payments too.
-- Legacy columns not carried: currency (always INR), status_id (a dead ref_code, Q17), the CGST/SGST/
-- IGST halves (tax is their sum), discount_type/value and percent columns (the amount wins),
-- customer_* snapshots (PHI), staff_id/created_by (who keyed the bill), payment attachment and edit
-- columns, advance_amount (an IP deposit: not a payment of this bill), is_free_bill/self_bill_type
-- (buyer_type), notes, prescription_uuid, balance_due / net_amount (derived).
with headers as materialized (
    select * from etl.billing_headers()
),

lines as materialized (
    select l.header_table, l.header_key, l.legacy_table, l.legacy_key
    from etl.billing_lines() as l
    where not l.is_deleted
),

pays as materialized (
    select p.header_table, p.header_key, sum(p.amount) as paid
    from etl.billing_payment_rows() as p
    where not p.is_deleted and p.kind = 'PAYMENT'
    group by 1, 2
),

charged as (
    select l.header_table, l.header_key, sum(c.total) as amount
    from lines as l
    join billing.charges as c
        on c.charge_id = etl.canonical_id('billing.charges', l.legacy_table, l.legacy_key)
       and c.deleted_at is null
    group by 1, 2
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

encounter_ref as materialized (
    select r.legacy_key, r.encounter_id
    from etl.encounter_refs(%(run_id)s) as r
    where r.legacy_table = 'encounter'
),

admissions as (
    select a.allocation_key, ad.admission_id, ad.encounter_id
    from etl.bed_allocation_admissions() as a
    join inpatient.admissions as ad
        on ad.admission_id = etl.canonical_id('inpatient.admissions', 'bed_allocations', a.opening_key)
       and ad.deleted_at is null
    where not a.is_deleted
),

bills as (
    select
        h.*,
        etl.canonical_id('billing.invoices', h.legacy_table, h.legacy_key) as invoice_id,
        pr.patient_id,
        ad.admission_id,
        coalesce(ad.encounter_id, er.encounter_id) as encounter_id,
        h.encounter_key is not null and er.encounter_id is null and ad.admission_id is null as encounter_missing,
        -- the discount applies to the loaded charges: when it exceeds them and the tax (a bill whose
        -- lines are missing or quarantined), the part it cannot apply is held as UNAPPLIED_DISCOUNT
        -- (below) and the invoice is due 0: billed = due + unitemized + quarantined lines - unapplied
        case when coalesce(ch.amount, 0) - h.discount + h.tax < 0
             then greatest(coalesce(ch.amount, 0) + h.tax, 0) else h.discount end as applied_discount,
        greatest(coalesce(ch.amount, 0) - h.discount + h.tax, least(coalesce(ch.amount, 0) + h.tax, 0)) as due,
        coalesce(py.paid, 0) as paid,
        etl.norm_key(h.legacy_status) as status_key,
        etl.norm_key(h.legacy_method) as method_key
    from headers as h
    left join patient_ref as pr on pr.legacy_key = h.patient_key
    left join admissions as ad on ad.allocation_key = h.allocation_key
    left join encounter_ref as er on er.legacy_key = h.encounter_key
    left join charged as ch on ch.header_table = h.legacy_table and ch.header_key = h.legacy_key
    left join pays as py on py.header_table = h.legacy_table and py.header_key = h.legacy_key
    where not h.is_deleted
),

statuses as (
    select
        b.*,
        case
            when b.status_key = 'cancelled' then 'VOID'
            when b.legacy_table = 'billing_summary' and b.paid = 0 then 'DRAFT'
            when b.paid >= b.due then 'PAID'
            else 'ISSUED'
        end as status,
        case
            when b.status_key in ('paid', 'completed') then 'PAID'
            when b.status_key = 'cancelled' then 'VOID'
            when b.status_key in ('pending', 'partial') then 'ISSUED'
        end as legacy_status_mapped
    from bills as b
),

invoices as (
    select
        s.invoice_id,
        s.patient_id,
        s.encounter_id,
        s.admission_id,
        s.status,
        case when s.status <> 'DRAFT' then s.issued_at end as issued_at,
        s.due as due_amount,
        s.paid as paid_amount,
        s.invoice_no,
        s.bill_type,
        s.buyer_type,
        s.applied_discount as discount_amount,
        s.tax as tax_amount,
        jsonb_strip_nulls(jsonb_build_object(
            'bill_type', left(s.legacy_bill_type, 40),
            'payment_status', left(s.legacy_status, 40),
            'payment_method', left(s.legacy_method, 40),
            'subtotal', s.subtotal,
            'total', s.header_total,
            'amount_paid', s.header_paid,
            'lines', s.lines_amount,
            'unitemized', nullif(s.unitemized, 0),
            'discount', case when s.applied_discount <> s.discount then s.discount end,
            'warns', case when cardinality(w.warns) > 0 then to_jsonb(w.warns) end
        )) as legacy_attributes,
        coalesce(s.created_at, s.issued_at, now()) as created_at,
        s.legacy_table as _legacy_table,
        s.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        s.reason as _reason,
        case
            when s.reason is not null
                then jsonb_build_object('rule', case s.reason
                                                    when 'FUTURE_DATE' then 'issued after the data''s as-of'
                                                    when 'NEGATIVE_AMOUNT' then 'the bill amount is negative'
                                                    else 'the bill''s patient is not loaded' end,
                                        'column', case s.reason when 'FUTURE_DATE' then 'issued_at'
                                                                when 'NEGATIVE_AMOUNT' then 'subtotal'
                                                                else 'patient_id' end,
                                        'amount', s.billed)
            when cardinality(w.warns) > 0
                then jsonb_build_object('warn', w.warns[1], 'warns', to_jsonb(w.warns), 'figures', w.figures)
        end as _detail
    from statuses as s
    cross join lateral (
        select
            s.warns || array_remove(array[
                case when s.unitemized <> 0 then 'ITEMS_TOTAL_MISMATCH' end,
                case when s.header_paid is not null and s.header_paid <> s.paid then 'PAYMENT_MISMATCH' end,
                case when s.paid > s.due then 'OVERPAYMENT' end,
                case when s.legacy_status_mapped is distinct from s.status and s.status_key is not null
                          and s.status_key in ('pending', 'partial', 'paid', 'completed', 'cancelled')
                     then 'DERIVED_STATUS' end,
                case when s.method_key in ('split', 'credit', 'gpay', 'other') then 'VOCAB_VARIANT' end,
                case when s.buyer_type = 'WALK_IN' then 'FREE_TEXT_REF' end,
                case when s.encounter_missing then 'ORPHAN_FK' end
            ], null) as warns,
            jsonb_strip_nulls(jsonb_build_object(
                'subtotal', case when s.unitemized <> 0 then s.subtotal end,
                'lines', case when s.unitemized <> 0 then s.lines_amount end,
                'header_paid', case when s.header_paid is not null and s.header_paid <> s.paid then s.header_paid end,
                'paid', case when (s.header_paid is not null and s.header_paid <> s.paid) or s.paid > s.due then s.paid end,
                'due', case when s.paid > s.due or s.header_total <> s.billed then s.due end,
                'header_total', case when s.header_total <> s.billed then s.header_total end,
                'legacy_status', case when s.legacy_status_mapped is distinct from s.status then s.status_key end
            )) as figures
    ) as w
),

-- amounts of a loaded bill kept visible in quarantine and counted, never invoiced: the header
-- subtotal's part no line itemizes, and the part of a discount the bill's loaded charges and tax
-- cannot absorb (a negative amount: it reduces what the patient owes)
held as (
    select s.legacy_table, s.legacy_key || '#unitemized' as held_key, 'ITEMS_TOTAL_MISMATCH' as reason,
           jsonb_build_object('rule', 'the header subtotal exceeds (or falls short of) its lines',
                              'amount', s.unitemized, 'subtotal', s.subtotal, 'lines', s.lines_amount) as detail
    from statuses as s
    where s.unitemized <> 0 and s.reason is null

    union all

    select s.legacy_table, s.legacy_key || '#unapplied_discount', 'UNAPPLIED_DISCOUNT',
           jsonb_build_object('rule', 'the discount exceeds the bill''s loaded charges and tax',
                              'amount', s.applied_discount - s.discount, 'discount', s.discount,
                              'applied', s.applied_discount)
    from statuses as s
    where s.applied_discount <> s.discount and s.reason is null
),

held_rows as (
    select
        null::uuid as invoice_id,
        null::uuid as patient_id,
        null::uuid as encounter_id,
        null::uuid as admission_id,
        null::text as status,
        null::timestamptz as issued_at,
        null::numeric as due_amount,
        null::numeric as paid_amount,
        null::text as invoice_no,
        null::text as bill_type,
        null::text as buyer_type,
        null::numeric as discount_amount,
        null::numeric as tax_amount,
        null::jsonb as legacy_attributes,
        now() as created_at,
        h.legacy_table as _legacy_table,
        h.held_key as _legacy_key,
        'LOADED'::text as _disposition,
        h.reason as _reason,
        h.detail as _detail
    from held as h
),

final as (
    select * from invoices
    union all
    select * from held_rows
)

select * from final
