-- Billing migration rules shared by the billing transforms (sql/billing/*.sql) and their money
-- checks (sql/billing/*.checks/*.sql), kept in one place so that a charge, an invoice, a payment
-- and the identity that checks them never read a legacy row two ways. Idempotent (create or
-- replace). The plpgsql functions read stg.* tables, created at staging time: plpgsql bodies are
-- resolved when called, so this file applies on a fresh database.
--
-- The legacy hospital bills three ways (contract defects 9-13, 16-18, 27-29):
--   * billing + billing_item: OP, pharmacy ('AP-' numbers), lab, radiology and IP bills;
--   * pharmacy_bills + pharmacy_bill_items (PharmacyBillingForm) and the ghost pharmacy_billing +
--     pharmacy_billing_items (blueprint profile);
--   * billing_summary: discharge headers (via patient_admissions) without lines (Q34).
-- billing_items (the alias of billing_item), payment_history (the alias of payment_ledger) and
-- payment_ledger (a 2026-02-15 copy of billing_payments plus rows of other sources) repeat rows:
-- they are accounted as copies (MERGED into the row they copy), never counted again.
--
-- Money rule (Q15, "the amount column wins"): where a legacy row states an amount in several
-- columns, the amount column is taken and the percent / split columns lose (a disagreement is a
-- WARN ENCODING_CONFLICT with both figures):
--   billing          discount = discount_amount, else discount (discount_value, a percent when
--                    discount_type is 'percent', loses); tax = tax (tax_percent and the
--                    cgst/sgst/igst halves lose); bill amount = subtotal - discount + tax (the
--                    stored total, never written by the code, Decision 9, only warns);
--   pharmacy_bills   discount = discount_amount, else discount (discount_percent /
--                    discount_percentage lose); tax = tax_amount, else tax, else gst_amount, else
--                    cgst + sgst + igst (tax_rate loses);
--   pharmacy_billing discount, tax_amount; billing_summary discount_amount, tax_amount (generated
--                    from the percentages in the legacy DDL);
--   a line           total_amount (billing_item, pharmacy_bill_items), else total_price, else
--                    qty x unit price.
-- The header subtotal is the legacy claim of what the lines sum to; a difference is the bill's
-- unitemized amount (ITEMS_TOTAL_MISMATCH), kept visible in quarantine with its amount.

-- A money amount written as text (patients.consultation_fee / op_card_amount / total_amount are
-- TEXT, Q22): 'Rs. 150', 'Rs.150 only', '150/-', 'INR 1,500.00', '₹ 200' are read as the number;
-- anything else ('abc', '100-200', '1e5') is NULL. Never raises.
create or replace function etl.try_money(p_text text)
returns numeric
language sql
immutable
parallel safe
as $$
    select etl.try_numeric(
        replace(
            regexp_replace(
                regexp_replace(lower(btrim(p_text)), '^(rs\.?|inr|₹)\s*', ''),
                '\s*(/-|only|rs\.?)\s*$', ''),
            ',', ''))
$$;

comment on function etl.try_money(text) is
    'A money amount written as text (''Rs. 150'', ''150/-'', ''INR 1,500.00'') as numeric; NULL when it is not one';

-- Does a TEXT fee column of a patients row state a fee (not blank, not zero)? An unparseable text
-- states one (it is quarantined, not ignored). The consumption predicate of billing.charges.
create or replace function etl.billing_fee_text_says(p_text text)
returns boolean
language sql
immutable
parallel safe
as $$ select nullif(btrim(p_text), '') is not null and coalesce(etl.try_money(p_text) <> 0, true) $$;

-- The legacy data's as-of: the latest clinical write (encounter created_at/start_at, appointment,
-- patient registration, bed allocation) that is not after the staging snapshot, capped at the
-- snapshot's start. A bill issued more than an hour after it is a FUTURE_DATE bill (an impossible
-- value the extraction cannot have seen happen). Extreme dates (9999-12-31) are after the snapshot
-- and so never move it.
create or replace function etl.billing_as_of()
returns timestamptz
language plpgsql
stable
as $$
declare
    v_snapshot timestamptz;
    v_as_of timestamptz;
begin
    select coalesce(max(r.started_at), now()) into v_snapshot from etl.stage_runs as r;
    select max(x.at) into v_as_of
    from (
        select e.created_at as at from stg.encounter as e where not e._deleted
        union all select e.start_at from stg.encounter as e where not e._deleted
        union all select a.created_at from stg.appointment as a where not a._deleted
        union all select p.created_at from stg.patients as p where not p._deleted
        union all select b.created_at from stg.bed_allocations as b where not b._deleted
    ) as x
    where x.at <= v_snapshot;
    return coalesce(v_as_of, v_snapshot);
end
$$;

-- Every legacy bill line, one row per line of billing_item, pharmacy_bill_items and
-- pharmacy_billing_items, plus one synthetic line per billing_summary header (a discharge header
-- has no lines, Q34: its subtotal, the room charges, is its one billable line, keyed by the
-- header's own key). header_* name the bill. line_kind: the billing_line code of billing_item
-- (lab, medicine, procedure, stay, service; ref_code, the hard-coded medicine id included, Q18),
-- 'medicine' for the pharmacy lines, 'room' for a discharge header. qty / unit_price as written;
-- amount: the amount column (see the money rule above). fee_match: the normalized free-text item
-- name, for matching a catalog fee by name only (never output). is_external: an external pharmacy
-- item (batch_number 'EXTERNAL', no batch, Q5). warns: AMBIGUOUS_REF when both keys of a pair are
-- set and differ (pharmacy_bill_items bill_id/billing_id, medicine_id/medication_id).
create or replace function etl.billing_lines_compute()
returns table (
    legacy_table text,
    legacy_key text,
    is_deleted boolean,
    header_table text,
    header_key text,
    line_kind text,
    qty numeric,
    unit_price numeric,
    amount numeric,
    fee_match text,
    medicine_key text,
    ref_key text,
    is_external boolean,
    created_at timestamptz,
    warns text[]
)
language plpgsql
stable
as $$
#variable_conflict use_column
begin
    return query
    with line_types as (
        select r.id, etl.norm_key(r.code) as code
        from stg.ref_code as r
        where etl.norm_key(r.domain) = 'billing_line' and not r._deleted
    )
    select
        'billing_item'::text,
        i._key,
        i._deleted,
        'billing'::text,
        i.billing_id::text,
        coalesce(lt.code, 'service'),
        nullif(i.qty, 'NaN'),
        nullif(i.unit_amount, 'NaN'),
        coalesce(nullif(i.total_amount, 'NaN'), nullif(i.qty, 'NaN') * nullif(i.unit_amount, 'NaN')),
        etl.norm_key(i.description),
        i.medicine_id::text,
        i.ref_id::text,
        coalesce(etl.norm_key(i.batch_number) = 'external', false),
        i.created_at,
        array_remove(array[
            case when lt.code is null then 'UNMAPPED_VALUE' end,
            case when nullif(i.total_amount, 'NaN') is not null and nullif(i.qty, 'NaN') is not null and nullif(i.unit_amount, 'NaN') is not null
                      and nullif(i.total_amount, 'NaN') <> nullif(i.qty, 'NaN') * nullif(i.unit_amount, 'NaN') then 'ENCODING_CONFLICT' end
        ], null)
    from stg.billing_item as i
    left join line_types as lt on lt.id = i.line_type_id

    union all

    select
        'pharmacy_bill_items',
        i._key,
        i._deleted,
        'pharmacy_bills',
        coalesce(i.bill_id, i.billing_id)::text,
        'medicine',
        i.quantity::numeric,
        nullif(i.unit_price, 'NaN'),
        coalesce(nullif(i.total_amount, 'NaN'), nullif(i.total_price, 'NaN'), i.quantity * nullif(i.unit_price, 'NaN')),
        etl.norm_key(i.medication_name),
        coalesce(i.medicine_id, i.medication_id)::text,
        null::text,
        coalesce(etl.norm_key(i.batch_number) = 'external', false),
        i.created_at,
        array_remove(array[
            case when i.bill_id <> i.billing_id or i.medicine_id <> i.medication_id then 'AMBIGUOUS_REF' end,
            case when coalesce(nullif(i.total_amount, 'NaN'), nullif(i.total_price, 'NaN')) is not null and i.quantity is not null
                      and nullif(i.unit_price, 'NaN') is not null
                      and coalesce(nullif(i.total_amount, 'NaN'), nullif(i.total_price, 'NaN')) <> i.quantity * nullif(i.unit_price, 'NaN')
                 then 'ENCODING_CONFLICT' end
        ], null)
    from stg.pharmacy_bill_items as i

    union all

    select
        'pharmacy_billing_items',
        i._key,
        i._deleted,
        'pharmacy_billing',
        i.billing_id::text,
        'medicine',
        i.quantity::numeric,
        nullif(i.unit_price, 'NaN'),
        coalesce(nullif(i.total_price, 'NaN'), i.quantity * nullif(i.unit_price, 'NaN')),
        etl.norm_key(i.medication_name),
        i.medication_id::text,
        null::text,
        coalesce(etl.norm_key(i.batch_number) = 'external', false),
        null::timestamptz,
        array_remove(array[
            case when nullif(i.total_price, 'NaN') is not null and i.quantity is not null and nullif(i.unit_price, 'NaN') is not null
                      and nullif(i.total_price, 'NaN') <> i.quantity * nullif(i.unit_price, 'NaN') then 'ENCODING_CONFLICT' end
        ], null)
    from stg.pharmacy_billing_items as i

    union all

    select
        'billing_summary',
        s._key,
        s._deleted,
        'billing_summary',
        s._key,
        'room',
        1::numeric,
        nullif(s.subtotal, 'NaN'),
        nullif(s.subtotal, 'NaN'),
        null::text,
        null::text,
        null::text,
        false,
        coalesce(s.created_at, s.bill_date),
        '{}'::text[]
    from stg.billing_summary as s;
end
$$;

comment on function etl.billing_lines_compute() is
    'Every legacy bill line (billing_item, pharmacy_bill_items, pharmacy_billing_items, one per billing_summary header) with its bill and amount';

-- Every legacy bill header: billing, pharmacy_bills, pharmacy_billing, billing_summary. Amounts by
-- the money rule above: subtotal (the header's; a NULL subtotal is the lines' sum), discount, tax,
-- billed = subtotal - discount + tax (what the legacy data says the patient owes); lines_amount =
-- the sum of its live lines' amounts (etl.billing_lines); unitemized = subtotal - lines_amount.
-- bill_type: ref.codes map:billing.bill_type of billing.bill_type (NULL -> OTHER), PHARMACY for
-- the pharmacy bill tables, DISCHARGE for billing_summary. buyer_type: STAFF_SELF for customer_type
-- 'self' (Q16), WALK_IN for a bill without a patient, else PATIENT. patient_key / encounter_key /
-- allocation_key: the legacy ids the bill names (billing_summary through its patient_admissions
-- row). header_paid: the paid amount the header claims (billing.amount_paid, pharmacy_bills
-- paid_amount); header_total: the stored total. reason: why the whole bill cannot load, one rule
-- for the charges, invoices and payments of it:
--   FUTURE_DATE      issued more than an hour after the data's as-of (etl.billing_as_of);
--   NEGATIVE_AMOUNT  the bill amount is negative;
--   ORPHAN_FK        the bill names a patient that is not loaded (core.patients), or a discharge
--                    header's patient_admissions row is missing.
-- warns: ENCODING_CONFLICT (amount columns disagree with their percent / split / total columns),
-- FORMAT_VARIANT (bill_no and bill_number differ), UNKNOWN_STATUS (payment_status outside
-- pending/partial/paid/cancelled/completed), AMBIGUOUS_REF (a self bill's doctor_id holds a
-- staff id, Q16), ORPHAN_HEADER (a discharge header without lines, Q34).
create or replace function etl.billing_headers_compute()
returns table (
    legacy_table text,
    legacy_key text,
    is_deleted boolean,
    bill_type text,
    legacy_bill_type text,
    buyer_type text,
    invoice_no text,
    patient_key text,
    encounter_key text,
    allocation_key text,
    issued_at timestamptz,
    created_at timestamptz,
    subtotal numeric,
    discount numeric,
    tax numeric,
    billed numeric,
    lines_amount numeric,
    unitemized numeric,
    header_total numeric,
    header_paid numeric,
    legacy_status text,
    legacy_method text,
    reason text,
    warns text[]
)
language plpgsql
stable
as $$
#variable_conflict use_column
declare
    v_as_of timestamptz := etl.billing_as_of();
begin
    return query
    with lines as (
        select l.header_table, l.header_key, sum(nullif(l.amount, 'NaN')) as amount
        from etl.billing_lines() as l
        where not l.is_deleted
        group by 1, 2
    ),

    type_map as (
        select c.code, c.display
        from ref.codes as c
        where c.system = 'map:billing.bill_type'
    ),

    patients as (
        select p._key from stg.patients as p where not p._deleted
    ),

    patient_ref as materialized (
        select r.legacy_key from etl.mapped_ids('core.patients', 'patients') as r
        join core.patients as cp on cp.patient_id = r.canonical_id and cp.deleted_at is null
    ),

    raw as (
        select
            'billing'::text as legacy_table,
            b._key as legacy_key,
            b._deleted as is_deleted,
            coalesce(tm.display, 'OTHER') as bill_type,
            b.bill_type as legacy_bill_type,
            case
                when etl.norm_key(b.customer_type) = 'self' then 'STAFF_SELF'
                when b.patient_id is null then 'WALK_IN'
                else 'PATIENT'
            end as buyer_type,
            coalesce(nullif(btrim(b.bill_number), ''), nullif(btrim(b.bill_no), '')) as invoice_no,
            b.patient_id::text as patient_key,
            b.encounter_id::text as encounter_key,
            b.bed_allocation_id::text as allocation_key,
            b.issued_at,
            coalesce(b.created_at, b.issued_at) as created_at,
            nullif(b.subtotal, 'NaN') as subtotal,
            coalesce(nullif(b.discount_amount, 'NaN'), nullif(b.discount, 'NaN'), 0) as discount,
            coalesce(nullif(b.tax, 'NaN'), 0) as tax,
            nullif(b.total, 'NaN') as header_total,
            nullif(b.amount_paid, 'NaN') as header_paid,
            b.payment_status as legacy_status,
            b.payment_method as legacy_method,
            array_remove(array[
                case when (nullif(b.discount_amount, 'NaN') is not null and nullif(b.discount, 'NaN') is not null and nullif(b.discount_amount, 'NaN') <> nullif(b.discount, 'NaN'))
                          or (etl.norm_key(b.discount_type) = 'percent' and nullif(b.subtotal, 'NaN') is not null
                              and round(nullif(b.subtotal, 'NaN') * nullif(b.discount_value, 'NaN') / 100, 2) <> coalesce(nullif(b.discount_amount, 'NaN'), nullif(b.discount, 'NaN'), 0))
                          or (nullif(b.tax, 'NaN') is not null and nullif(b.cgst_amount, 'NaN') is not null
                              and coalesce(nullif(b.cgst_amount, 'NaN'), 0) + coalesce(nullif(b.sgst_amount, 'NaN'), 0) + coalesce(nullif(b.igst_amount, 'NaN'), 0) <> nullif(b.tax, 'NaN'))
                     then 'ENCODING_CONFLICT' end,
                case when nullif(btrim(b.bill_no), '') <> nullif(btrim(b.bill_number), '') then 'FORMAT_VARIANT' end,
                case when etl.norm_key(b.bill_type) is not null and tm.display is null then 'UNMAPPED_VALUE' end,
                case when etl.norm_key(b.payment_status) not in ('pending', 'partial', 'paid', 'cancelled', 'completed')
                     then 'UNKNOWN_STATUS' end,
                case when etl.norm_key(b.customer_type) = 'self' and b.doctor_id is not null then 'AMBIGUOUS_REF' end
            ], null) as warns
        from stg.billing as b
        left join type_map as tm on tm.code = etl.norm_key(b.bill_type)

        union all

        select
            'pharmacy_bills',
            b._key,
            b._deleted,
            'PHARMACY',
            b.billing_type,
            case when b.patient_id is null then 'WALK_IN' else 'PATIENT' end,
            nullif(btrim(b.bill_number), ''),
            b.patient_id::text,
            null::text,
            null::text,
            coalesce(b.created_at, etl.date_ts(b.bill_date)),
            coalesce(b.created_at, etl.date_ts(b.bill_date)),
            nullif(b.subtotal, 'NaN'),
            coalesce(nullif(b.discount_amount, 'NaN'), nullif(b.discount, 'NaN'), 0),
            coalesce(nullif(b.tax_amount, 'NaN'), nullif(b.tax, 'NaN'), nullif(b.gst_amount, 'NaN'),
                     case when num_nonnulls(nullif(b.cgst_amount, 'NaN'), nullif(b.sgst_amount, 'NaN'), nullif(b.igst_amount, 'NaN')) > 0
                          then coalesce(nullif(b.cgst_amount, 'NaN'), 0) + coalesce(nullif(b.sgst_amount, 'NaN'), 0) + coalesce(nullif(b.igst_amount, 'NaN'), 0) end,
                     0),
            nullif(b.total_amount, 'NaN'),
            nullif(b.paid_amount, 'NaN'),
            b.payment_status,
            b.payment_method,
            array_remove(array[
                case when num_nonnulls(nullif(b.tax_amount, 'NaN'), nullif(b.tax, 'NaN'), nullif(b.gst_amount, 'NaN')) > 1
                          and (nullif(b.tax_amount, 'NaN') <> nullif(b.tax, 'NaN') or nullif(b.tax_amount, 'NaN') <> nullif(b.gst_amount, 'NaN') or nullif(b.tax, 'NaN') <> nullif(b.gst_amount, 'NaN'))
                     then 'ENCODING_CONFLICT' end,
                case when etl.norm_key(b.payment_status) not in ('pending', 'partial', 'paid', 'refunded', 'completed')
                     then 'UNKNOWN_STATUS' end
            ], null)
        from stg.pharmacy_bills as b

        union all

        select
            'pharmacy_billing',
            b._key,
            b._deleted,
            'PHARMACY',
            null::text,
            case when b.patient_id is null then 'WALK_IN' else 'PATIENT' end,
            nullif(btrim(b.bill_number), ''),
            b.patient_id::text,
            null::text,
            null::text,
            b.created_at,
            b.created_at,
            nullif(b.subtotal, 'NaN'),
            coalesce(nullif(b.discount, 'NaN'), 0),
            coalesce(nullif(b.tax_amount, 'NaN'), 0),
            nullif(b.total_amount, 'NaN'),
            null::numeric,
            b.payment_status,
            b.payment_method,
            '{}'::text[]
        from stg.pharmacy_billing as b

        union all

        select
            'billing_summary',
            s._key,
            s._deleted,
            'DISCHARGE',
            null::text,
            'PATIENT',
            nullif(btrim(s.bill_number), ''),
            pa.patient_id::text,
            null::text,
            pa.bed_allocation_id::text,
            coalesce(s.bill_date, s.created_at),
            coalesce(s.created_at, s.bill_date),
            nullif(s.subtotal, 'NaN'),
            coalesce(nullif(s.discount_amount, 'NaN'), 0),
            coalesce(nullif(s.tax_amount, 'NaN'), 0),
            nullif(s.total_amount, 'NaN'),
            null::numeric,
            s.payment_status,
            s.payment_method,
            array['ORPHAN_HEADER']
        from stg.billing_summary as s
        left join stg.patient_admissions as pa on pa.id = s.patient_admission_id and not pa._deleted
    )

    select
        r.legacy_table,
        r.legacy_key,
        r.is_deleted,
        r.bill_type,
        r.legacy_bill_type,
        r.buyer_type,
        r.invoice_no,
        r.patient_key,
        r.encounter_key,
        r.allocation_key,
        r.issued_at,
        r.created_at,
        coalesce(nullif(r.subtotal, 'NaN'), nullif(l.amount, 'NaN'), 0),
        nullif(r.discount, 'NaN'),
        nullif(r.tax, 'NaN'),
        coalesce(nullif(r.subtotal, 'NaN'), nullif(l.amount, 'NaN'), 0) - nullif(r.discount, 'NaN') + nullif(r.tax, 'NaN'),
        coalesce(nullif(l.amount, 'NaN'), 0),
        coalesce(nullif(r.subtotal, 'NaN'), nullif(l.amount, 'NaN'), 0) - coalesce(nullif(l.amount, 'NaN'), 0),
        r.header_total,
        r.header_paid,
        r.legacy_status,
        r.legacy_method,
        case
            when r.issued_at > v_as_of + interval '1 hour' then 'FUTURE_DATE'
            when coalesce(nullif(r.subtotal, 'NaN'), nullif(l.amount, 'NaN'), 0) - nullif(r.discount, 'NaN') + nullif(r.tax, 'NaN') < 0 then 'NEGATIVE_AMOUNT'
            when r.legacy_table = 'billing_summary' and r.patient_key is null then 'ORPHAN_FK'
            when r.patient_key is not null
                 and not exists (select 1 from patient_ref as pr where pr.legacy_key = r.patient_key) then 'ORPHAN_FK'
        end,
        r.warns
            || case when r.header_total is not null
                         and r.header_total <> coalesce(nullif(r.subtotal, 'NaN'), nullif(l.amount, 'NaN'), 0) - nullif(r.discount, 'NaN') + nullif(r.tax, 'NaN')
                         and not ('ENCODING_CONFLICT' = any(r.warns)) then array['ENCODING_CONFLICT'] else '{}'::text[] end
    from raw as r
    left join lines as l on l.header_table = r.legacy_table and l.header_key = r.legacy_key;
end
$$;

comment on function etl.billing_headers_compute() is
    'Every legacy bill header (billing, pharmacy_bills, pharmacy_billing, billing_summary) with its amounts by the "amount column wins" rule and the reason it cannot load';

-- Every legacy payment row, classified once for billing.invoices (paid_amount) and
-- billing.payments (and their money check):
--   * billing_payments (the payment table; amount and method as written, Q19/Q20);
--   * the ledger (payment_ledger, live; payment_history where it is a table, blueprint): a row
--     that names its billing_payments row in notes ('backfill billing_payments:<id>'), else that
--     matches exactly one billing_payments row on (bill, amount, method, time), is a COPY of it;
--     any other ledger row is a payment of its own (source_id naming a bill) or foreign;
--   * pharmacy_bills / pharmacy_billing: PharmacyBillingForm keeps no payment rows; the header's
--     paid amount (pharmacy_billing: its total when payment_status is 'paid') is the bill's one
--     payment, keyed '<bill id>#payment'.
-- kind: PAYMENT (loads), COPY (copy_of names the billing_payments key it repeats), CREDIT ('credit':
-- an amount on account, not a payment, Q20), REFUND (a negative amount, Q19: not a payment),
-- ZERO (amount 0), MISSING (no amount), ORPHAN (names no bill: billing_id of no billing row, or a
-- ledger row of a source outside the fixture, Q21). header_*: the bill paid (NULL for ORPHAN).
-- method: the legacy method as written (mapped by the transforms).
create or replace function etl.billing_payment_rows_compute()
returns table (
    legacy_table text,
    legacy_key text,
    is_deleted boolean,
    header_table text,
    header_key text,
    kind text,
    copy_of text,
    amount numeric,
    method text,
    paid_at timestamptz,
    ref_no text,
    created_at timestamptz
)
language plpgsql
stable
as $$
#variable_conflict use_column
begin
    return query
    with bills as (
        select 'billing'::text as header_table, b._key as header_key from stg.billing as b where not b._deleted
        union all select 'pharmacy_bills', b._key from stg.pharmacy_bills as b where not b._deleted
        union all select 'pharmacy_billing', b._key from stg.pharmacy_billing as b where not b._deleted
        union all select 'billing_summary', b._key from stg.billing_summary as b where not b._deleted
    ),

    -- a ledger row names its bill by id only: the first header table holding that key (a hash
    -- join, never a scan of every bill per ledger row)
    bill_of_key as (
        select distinct on (b.header_key) b.header_table, b.header_key
        from bills as b
        order by b.header_key, b.header_table
    ),

    bp as (
        select p.*, bl.header_table as bill_table
        from stg.billing_payments as p
        left join bills as bl on bl.header_table = 'billing' and bl.header_key = p.billing_id::text
    ),

    ledger as (
        select 'payment_ledger'::text as ltable, l._key, l._deleted, l.source_id, nullif(l.amount, 'NaN') as amount, l.payment_method,
               l.payment_date, l.reference_number, l.notes, l.created_at
        from stg.payment_ledger as l
        union all
        select 'payment_history', l._key, l._deleted, l.source_id, nullif(l.amount, 'NaN'), l.payment_method,
               l.payment_date, l.reference_number, l.notes, l.created_at
        from stg.payment_history as l
    ),

    -- a ledger row's billing_payments row: named in notes, else the one row with the same values
    -- (the row it names is its original even when that row is gone or was never staged: a copy is
    -- never a payment of its own)
    named as (
        select l.ltable, l._key, btrim(substr(l.notes, length('backfill billing_payments:') + 1)) as copy_of
        from ledger as l
        where l.notes like 'backfill billing_payments:%'
    ),

    matched as (
        select l.ltable, l._key, min(p._key) as copy_of
        from ledger as l
        join stg.billing_payments as p
            on p.billing_id = l.source_id
           and nullif(p.amount, 'NaN') = nullif(l.amount, 'NaN')
           and etl.norm_key(p.method) = etl.norm_key(l.payment_method)
           and p.paid_at = l.payment_date
           and not p._deleted
        group by 1, 2
        having count(*) = 1
    ),

    -- the row named in notes wins over a match by values (a sort, not an anti-join: the notes filter
    -- is estimated at a handful of rows and is every ledger row in a real copy, and a nested-loop
    -- anti-join over it was quadratic: > 3 min at 100k patients, 2.9 s this way)
    copies as (
        select distinct on (c.ltable, c._key) c.ltable, c._key, c.copy_of
        from (
            select n.ltable, n._key, n.copy_of, 1 as priority from named as n
            union all
            select m.ltable, m._key, m.copy_of, 2 from matched as m
        ) as c
        order by c.ltable, c._key, c.priority
    )

    select
        'billing_payments'::text,
        p._key,
        p._deleted,
        p.bill_table,
        case when p.bill_table is not null then p.billing_id::text end,
        case
            when p.bill_table is null then 'ORPHAN'
            when nullif(p.amount, 'NaN') is null then 'MISSING'
            when nullif(p.amount, 'NaN') < 0 then 'REFUND'
            when etl.norm_key(p.method) = 'credit' then 'CREDIT'
            when nullif(p.amount, 'NaN') = 0 then 'ZERO'
            else 'PAYMENT'
        end,
        null::text,
        nullif(p.amount, 'NaN'),
        p.method::text,
        p.paid_at,
        nullif(btrim(p.reference), ''),
        p.created_at
    from bp as p

    union all

    select
        l.ltable,
        l._key,
        l._deleted,
        bl.header_table,
        bl.header_key,
        case
            when c.copy_of is not null then 'COPY'
            when bl.header_key is null then 'ORPHAN'
            when nullif(l.amount, 'NaN') is null then 'MISSING'
            when nullif(l.amount, 'NaN') < 0 then 'REFUND'
            when etl.norm_key(l.payment_method) = 'credit' then 'CREDIT'
            when nullif(l.amount, 'NaN') = 0 then 'ZERO'
            else 'PAYMENT'
        end,
        c.copy_of,
        nullif(l.amount, 'NaN'),
        l.payment_method,
        l.payment_date,
        nullif(btrim(l.reference_number), ''),
        l.created_at
    from ledger as l
    left join copies as c on c.ltable = l.ltable and c._key = l._key
    left join bill_of_key as bl on bl.header_key = l.source_id::text

    union all

    select
        'pharmacy_bills',
        b._key || '#payment',
        b._deleted,
        'pharmacy_bills',
        b._key,
        case
            when etl.norm_key(b.payment_method) = 'credit' then 'CREDIT'
            when nullif(b.paid_amount, 'NaN') is null then 'MISSING'
            when nullif(b.paid_amount, 'NaN') < 0 then 'REFUND'
            else 'PAYMENT'
        end,
        null::text,
        nullif(b.paid_amount, 'NaN'),
        b.payment_method::text,
        coalesce(b.created_at, etl.date_ts(b.bill_date)),
        null::text,
        b.created_at
    from stg.pharmacy_bills as b
    where b.paid_amount <> 0

    union all

    select
        'pharmacy_billing',
        b._key || '#payment',
        b._deleted,
        'pharmacy_billing',
        b._key,
        case
            when etl.norm_key(b.payment_method) = 'credit' then 'CREDIT'
            when nullif(b.total_amount, 'NaN') is null then 'MISSING'
            when nullif(b.total_amount, 'NaN') < 0 then 'REFUND'
            else 'PAYMENT'
        end,
        null::text,
        nullif(b.total_amount, 'NaN'),
        b.payment_method::text,
        b.created_at,
        null::text,
        b.created_at
    from stg.pharmacy_billing as b
    where etl.norm_key(b.payment_status) in ('paid', 'completed') and b.total_amount <> 0;
end
$$;

comment on function etl.billing_payment_rows_compute() is
    'Every legacy payment row (billing_payments, the ledger copies, pharmacy bill headers) classified: PAYMENT, COPY, CREDIT, REFUND, ZERO, MISSING, ORPHAN';
