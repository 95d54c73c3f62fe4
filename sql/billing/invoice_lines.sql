-- billing.invoice_lines. Grain: one row per line of an invoice: one per charge of a legacy bill line
-- (a charge is invoiced once). Sources: the bill lines of etl.billing_lines
-- (sql/ddl/096_billing_helpers.sql): billing_item, pharmacy_bill_items, pharmacy_billing_items and the
-- one line of a billing_summary discharge header; billing_items (the alias copy of billing_item, Q2)
-- is MERGED into the line of the row it copies (rule COPY).
-- line_id = etl.canonical_id('billing.invoice_lines', <table>, <key>); invoice_id = the invoice of the
-- line's bill; charge_id = the line's charge (billing.charges); amount = the charge's total (the
-- discount and tax of a bill are on its invoice header, applied once: due_amount = lines -
-- discount_amount + tax_amount).
-- description: never the legacy free text (billing_item.description, medication_name: typed by
-- the counter): the item's name in the drug master (pharmacy.items, through provenance of the
-- line's medicine_id / medication_id) for a stocked medicine; else the fee's name (billing.fee_schedules:
-- 'OP Consultation', 'Pharmacy item', ...), with ' (external)' for an external item (Q5).
-- Not loaded: a line whose invoice or charge is not loaded is quarantined ORPHAN_FK (its money is
-- accounted where the invoice or the charge was quarantined; no amount here). Charges without a bill
-- (bed days, registration fees) are not invoiced: they stay un-invoiced charges.
with lines as materialized (
    select l.*
    from etl.billing_lines() as l
    where not l.is_deleted
),

items as materialized (
    select m.legacy_key, i.name
    from etl.mapped_ids('pharmacy.items', 'medications') as m
    join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
),

line_rows as (
    select
        etl.canonical_id('billing.invoice_lines', l.legacy_table, l.legacy_key) as line_id,
        i.invoice_id,
        c.charge_id,
        case
            when l.line_kind = 'medicine' and not l.is_external and it.name is not null then it.name
            else f.name || case when l.is_external then ' (external)' else '' end
        end as description,
        c.total as amount,
        coalesce(c.created_at, now()) as created_at,
        l.legacy_table as _legacy_table,
        l.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        case when i.invoice_id is null or c.charge_id is null then 'ORPHAN_FK' end as _reason,
        case
            when i.invoice_id is null then jsonb_build_object('column', 'invoice_id', 'rule', 'invoice of the line not loaded')
            when c.charge_id is null then jsonb_build_object('column', 'charge_id', 'rule', 'charge of the line not loaded')
        end as _detail
    from lines as l
    left join billing.invoices as i
        on i.invoice_id = etl.canonical_id('billing.invoices', l.header_table, l.header_key)
       and i.deleted_at is null
    left join billing.charges as c
        on c.charge_id = etl.canonical_id('billing.charges', l.legacy_table, l.legacy_key)
       and c.deleted_at is null
    left join billing.fee_schedules as f on f.fee_id = c.fee_id
    left join items as it on it.legacy_key = l.medicine_key
),

copies as (
    select
        r.line_id,
        r.invoice_id,
        r.charge_id,
        r.description,
        r.amount,
        r.created_at,
        'billing_items'::text as _legacy_table,
        s._key as _legacy_key,
        'MERGED'::text as _disposition,
        case when r.line_id is null then 'ORPHAN_FK' when r._reason is not null then 'DUPLICATE' end as _reason,
        case
            when r.line_id is null then jsonb_build_object('column', 'id', 'rule', 'a copy of no live billing_item row')
            else jsonb_build_object('rule', 'COPY', 'copy_of', 'billing_item')
        end as _detail
    from stg.billing_items as s
    left join line_rows as r on r._legacy_table = 'billing_item' and r._legacy_key = s._key
    where not s._deleted
),

final as (
    select * from line_rows
    union all
    select * from copies
)

select * from final
