-- billing.charges. Grain: one row per billable legacy line (a fee applied in an encounter and/or
-- admission). The one billing pipe (principle 5): every domain's money becomes a charge here, and
-- invoices bill charges. Shared rules (bill and line amounts, the "amount column wins" rule, the
-- reason a whole bill cannot load): sql/ddl/096_billing_helpers.sql.
-- Sources:
--   * bill lines (etl.billing_lines): billing_item (OP, pharmacy, lab, radiology, IP bills; an
--     external pharmacy item has no batch), pharmacy_bill_items, pharmacy_billing_items, and one line
--     per billing_summary discharge header (its subtotal, the room charges: it has no lines, Q34).
--     One charge per line (LOADED). billing_items, the alias of billing_item (Q2, a table in the
--     blueprint profile), is MERGED into the charge of the billing_item row it copies (rule COPY).
--   * bed_allocations: the stay's bed charges stored on the allocation (total_charges, Q27), one
--     charge '<key>#bed_days' where no bill carries the stay: when a bill of the same admission
--     exists (an IP bill naming one of its allocations, a discharge header), the allocation is
--     MERGED into that bill's first charge (rule CARRIED_BY_BILL), never charged twice. qty = the
--     days (total_charges / daily_charges), unit_price = daily_charges; fee bed day of the bed's type.
--   * patients: the consultation fee and OP card amount on the registration row (TEXT, Q22: read by
--     etl.try_money; 'Rs. 150' and '150/-' load with a WARN FORMAT_VARIANT, an unreadable text is
--     quarantined UNPARSEABLE_VALUE naming the column only), '<key>#consultation_fee' and
--     '<key>#op_card_amount'. A consultation fee is carried by a bill when a bill line of the patient
--     charges a fee of the Consultation category: MERGED into that line's charge (CARRIED_BY_BILL).
--     patients.total_amount is their sum (Q13): not charged.
-- qty / unit_price: the line's qty and unit price when they multiply to its amount; else the
-- amount column wins (Q15): unit_price = amount / qty when that is exact in cents, else qty 1 and
-- unit_price = amount (WARN ENCODING_CONFLICT). A missing qty with an amount is qty 1 (WARN
-- MISSING_VALUE). Quarantined, with the money in detail.amount: a negative amount
-- (NEGATIVE_AMOUNT), qty <= 0 (ZERO_QTY), no amount (MISSING_VALUE), an amount beyond numeric(12,2)
-- or with fractions of a cent (OUT_OF_RANGE). A line of a bill that cannot load (FUTURE_DATE,
-- NEGATIVE_AMOUNT, ORPHAN_FK: etl.billing_headers) is quarantined with its bill's reason; its money
-- is counted on the bill (detail.line_amount, not amount). A line whose bill is not in the snapshot
-- (no FK in a hostile source) is quarantined ORPHAN_FK with its amount (it is on no bill's total).
-- fee: a pharmacy line -> DERIVED.PHARMACY_DISPENSING; a discharge header -> DERIVED.ROOM_CHARGES;
-- other lines -> the catalog fee whose name is the line's item name (etl.norm_key; several: the
-- first code, WARN AMBIGUOUS_REF), else DERIVED.LAB_TEST (lab), DERIVED.BED_DAY_<type> (stay),
-- DERIVED.OTHER_SERVICE (WARN UNMAPPED_VALUE). The line's free-text name is used for matching only.
-- Links: admission = the admission of the bill's bed_allocation_id (IP bills, discharge headers);
-- encounter = the admission's encounter, else the bill's encounter (legacy encounter_id; not loaded:
-- WARN ORPHAN_FK), else the patient's encounter in progress at the bill's time, else the latest
-- before it, else the first after (WARN INFERRED_ENCOUNTER). A counter sale to a walk-in or staff
-- buyer has neither (Q16). source_table/source_id: the canonical row charged for: the dispense of
-- the line's prescription item (pharmacy.dispenses, when that table holds one; else the rx line),
-- the lab order of a lab line's ref_id, the bed allocation (stay lines, bed days; else the
-- admission), the bill's encounter (clinical.encounters); else the legacy line itself,
-- 'legacy.<table>' + its legacy id (ops.legacy_id_map holds the same).
-- _detail: warn (first) / warns (all); no free text, no names.
with lines as materialized (
    select * from etl.billing_lines()
),

headers as materialized (
    select * from etl.billing_headers()
),

fees as materialized (
    select f.fee_id, f.code, f.category, etl.norm_key(f.name) as name_key
    from billing.fee_schedules as f
    where f.deleted_at is null
),

catalog as (
    select f.name_key, (array_agg(f.fee_id order by f.code))[1] as fee_id, count(*) as n,
           bool_or(etl.norm_key(f.category) = 'consultation') as is_consultation
    from fees as f
    where f.category is distinct from 'Derived'
    group by 1
),

derived as (
    select f.code, f.fee_id from fees as f where f.category = 'Derived'
),

patient_ref as materialized (
    select * from etl.patient_refs(%(run_id)s)
),

encounter_ref as materialized (
    select r.legacy_table, r.legacy_key, r.encounter_id
    from etl.encounter_refs(%(run_id)s) as r
),

groups as materialized (
    select a.allocation_key, a.admission_key, a.opening_key
    from etl.bed_allocation_admissions() as a
    where not a.is_deleted
),

admissions as (
    select g.allocation_key, g.admission_key, ad.admission_id, ad.encounter_id, ba.allocation_id
    from groups as g
    left join inpatient.admissions as ad
        on ad.admission_id = etl.canonical_id('inpatient.admissions', 'bed_allocations', g.opening_key)
       and ad.deleted_at is null
    left join inpatient.bed_allocations as ba
        on ba.allocation_id = etl.canonical_id('inpatient.bed_allocations', 'bed_allocations', g.allocation_key)
       and ba.deleted_at is null
),

bed_types as (
    select b._key, 'DERIVED.BED_DAY_' || coalesce(upper(etl.norm_key(bd.bed_type)), 'UNKNOWN') as code
    from stg.bed_allocations as b
    left join stg.beds as bd on bd.id = b.bed_id and not bd._deleted
),

patient_encounters as materialized (
    select e.patient_id, e.encounter_id, e.start_at, e.end_at
    from clinical.encounters as e
    where e.deleted_at is null
),

rx_map as materialized (
    select m.legacy_key, m.canonical_id as rx_line_id
    from etl.mapped_ids('pharmacy.rx_lines', 'prescription_items') as m
    where m.disposition = 'LOADED'
),

dispense_of_rx as (
    select distinct on (d.rx_line_id) d.rx_line_id, d.dispense_id
    from pharmacy.dispenses as d
    where d.deleted_at is null
    order by d.rx_line_id, d.dispensed_at nulls last, d.dispense_id
),

lab_map as materialized (
    select m.legacy_key, m.canonical_id as lab_order_id
    from etl.mapped_ids('clinical.lab_orders', 'lab_reports') as m
    where m.disposition = 'LOADED'
),

-- bill lines with their bill, links and fee
bill_lines as (
    select
        l.*,
        h.legacy_key is null as header_missing,
        h.reason as header_reason,
        h.issued_at,
        h.created_at as header_created_at,
        h.encounter_key,
        h.allocation_key,
        pr.patient_id,
        ad.admission_id,
        ad.allocation_id,
        coalesce(ad.encounter_id, er.encounter_id) as own_encounter_id,
        h.encounter_key is not null and er.encounter_id is null as encounter_missing,
        c.fee_id as catalog_fee_id,
        c.n as catalog_matches,
        coalesce(c.is_consultation, false) as is_consultation,
        bt.code as bed_code,
        rx.rx_line_id,
        dx.dispense_id,
        lb.lab_order_id
    from lines as l
    left join headers as h on h.legacy_table = l.header_table and h.legacy_key = l.header_key and not h.is_deleted
    left join patient_ref as pr on pr.legacy_key = h.patient_key
    left join admissions as ad on ad.allocation_key = h.allocation_key
    left join encounter_ref as er on er.legacy_table = 'encounter' and er.legacy_key = h.encounter_key
    left join catalog as c on c.name_key = l.fee_match and l.line_kind not in ('medicine', 'room')
    left join bed_types as bt on bt._key = h.allocation_key
    left join rx_map as rx on rx.legacy_key = l.ref_key and l.line_kind = 'medicine'
    left join dispense_of_rx as dx on dx.rx_line_id = rx.rx_line_id
    left join lab_map as lb on lb.legacy_key = l.ref_key and l.line_kind = 'lab'
    where not l.is_deleted
),

-- the encounter a bill line without one is inferred into: per patient (a hash join on patient_id,
-- never a scan of every encounter per line), the one in progress at the bill's time, else the latest
-- before it, else the first after
inferred as (
    select distinct on (b.legacy_table, b.legacy_key)
        b.legacy_table,
        b.legacy_key,
        pe.encounter_id
    from bill_lines as b
    join patient_encounters as pe on pe.patient_id = b.patient_id
    where b.own_encounter_id is null and b.patient_id is not null
    order by b.legacy_table, b.legacy_key,
             (pe.start_at <= b.issued_at) desc,
             case when pe.start_at <= b.issued_at then pe.start_at end desc nulls last,
             pe.start_at, pe.encounter_id
),

-- qty / unit price by the amount rule
priced_lines as (
    select
        b.*,
        coalesce(b.own_encounter_id, i.encounter_id) as encounter_id,
        b.own_encounter_id is null and i.encounter_id is not null as is_inferred,
        p.qty as charge_qty,
        p.unit_price as charge_unit,
        p.warn as price_warn,
        case
            when b.header_missing then 'ORPHAN_FK'
            when b.header_reason is not null then b.header_reason
            when b.amount is null then 'MISSING_VALUE'
            when b.amount < 0 then 'NEGATIVE_AMOUNT'
            when b.amount >= 10000000000 or b.amount <> round(b.amount, 2) then 'OUT_OF_RANGE'
            when b.qty <= 0 then 'ZERO_QTY'
        end as reason
    from bill_lines as b
    left join inferred as i on i.legacy_table = b.legacy_table and i.legacy_key = b.legacy_key
    cross join lateral (
        select
            case
                when b.qty is null then 1::numeric
                when b.qty = round(b.qty, 3) and (b.unit_price = round(b.unit_price, 2) and b.qty * b.unit_price = b.amount
                                                  or round(b.amount / nullif(b.qty, 0), 2) * b.qty = b.amount) then b.qty
                else 1::numeric
            end as qty,
            case
                when b.qty is null then b.amount
                when b.qty = round(b.qty, 3) and b.unit_price = round(b.unit_price, 2) and b.qty * b.unit_price = b.amount
                    then b.unit_price
                when b.qty = round(b.qty, 3) and round(b.amount / nullif(b.qty, 0), 2) * b.qty = b.amount
                    then round(b.amount / b.qty, 2)
                else b.amount
            end as unit_price,
            case
                when b.qty is null then 'MISSING_VALUE'
                when b.qty = round(b.qty, 3) and b.unit_price = round(b.unit_price, 2) and b.qty * b.unit_price = b.amount
                    then null
                else 'ENCODING_CONFLICT'
            end as warn
    ) as p
),

line_charges as (
    select
        etl.canonical_id('billing.charges', p.legacy_table, p.legacy_key) as charge_id,
        p.encounter_id,
        p.admission_id,
        coalesce(
            case p.line_kind
                when 'medicine' then (select d.fee_id from derived as d where d.code = 'DERIVED.PHARMACY_DISPENSING')
                when 'room' then (select d.fee_id from derived as d where d.code = 'DERIVED.ROOM_CHARGES')
            end,
            p.catalog_fee_id,
            (select d.fee_id from derived as d
             where d.code = case p.line_kind
                                when 'lab' then 'DERIVED.LAB_TEST'
                                when 'stay' then coalesce(p.bed_code, 'DERIVED.BED_DAY_UNKNOWN')
                                else 'DERIVED.OTHER_SERVICE'
                            end)
        ) as fee_id,
        p.charge_qty as qty,
        p.charge_unit as unit_price,
        case
            when p.dispense_id is not null then 'pharmacy.dispenses'
            when p.rx_line_id is not null then 'pharmacy.rx_lines'
            when p.lab_order_id is not null then 'clinical.lab_orders'
            when p.line_kind in ('stay', 'room') and p.allocation_id is not null and p.line_kind = 'stay'
                then 'inpatient.bed_allocations'
            when p.line_kind in ('stay', 'room') and p.admission_id is not null then 'inpatient.admissions'
            when p.own_encounter_id is not null then 'clinical.encounters'
            else 'legacy.' || p.legacy_table
        end as source_table,
        case
            when p.dispense_id is not null then p.dispense_id
            when p.rx_line_id is not null then p.rx_line_id
            when p.lab_order_id is not null then p.lab_order_id
            when p.line_kind in ('stay', 'room') and p.allocation_id is not null and p.line_kind = 'stay'
                then p.allocation_id
            when p.line_kind in ('stay', 'room') and p.admission_id is not null then p.admission_id
            when p.own_encounter_id is not null then p.own_encounter_id
            when p.legacy_key ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then p.legacy_key::uuid
            else etl.canonical_id('legacy', p.legacy_table, p.legacy_key)
        end as source_id,
        coalesce(p.created_at, p.header_created_at, now()) as created_at,
        p.legacy_table as _legacy_table,
        p.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        p.reason as _reason,
        case
            when p.header_missing
                then jsonb_build_object('column', 'billing_id', 'rule', 'the line names no live bill', 'amount', p.amount)
            when p.header_reason is not null
                then jsonb_build_object('rule', 'its bill is quarantined', 'bill_table', p.header_table,
                                        'bill_key', p.header_key, 'line_amount', p.amount)
            when p.reason = 'MISSING_VALUE' then jsonb_build_object('column', 'amount')
            when p.reason = 'ZERO_QTY' then jsonb_build_object('column', 'qty', 'amount', p.amount)
            when p.reason is not null then jsonb_build_object('column', 'amount', 'amount', p.amount)
            when cardinality(w.warns) > 0 then jsonb_build_object('warn', w.warns[1], 'warns', to_jsonb(w.warns))
        end as _detail,
        p.patient_id,
        p.is_consultation,
        p.header_table,
        p.header_key
    from priced_lines as p
    cross join lateral (
        select array_remove(p.warns || array[
            p.price_warn,
            case when p.catalog_matches > 1 then 'AMBIGUOUS_REF' end,
            case when p.line_kind in ('lab', 'procedure', 'service') and p.catalog_fee_id is null then 'UNMAPPED_VALUE' end,
            case when p.encounter_missing then 'ORPHAN_FK' end,
            case when p.is_inferred then 'INFERRED_ENCOUNTER' end,
            case when p.is_external then 'FREE_TEXT_REF' end
        ], null) as warns
    ) as w
),

-- the first loadable charge of each bill (what a stay or a consultation carried by it merges into)
bill_first_charge as (
    select distinct on (c.header_table, c.header_key)
        c.header_table, c.header_key, c.charge_id
    from line_charges as c
    where c._reason is null
    order by c.header_table, c.header_key, c._legacy_table, c._legacy_key
),

copies as (
    select
        c.charge_id,
        c.encounter_id,
        c.admission_id,
        c.fee_id,
        c.qty,
        c.unit_price,
        c.source_table,
        c.source_id,
        c.created_at,
        'billing_items'::text as _legacy_table,
        s._key as _legacy_key,
        'MERGED'::text as _disposition,
        case when c.charge_id is null then 'ORPHAN_FK' when c._reason is not null then 'DUPLICATE' end as _reason,
        case
            when c.charge_id is null
                then jsonb_build_object('column', 'id', 'rule', 'a copy of no live billing_item row')
            when c._reason is not null
                then jsonb_build_object('rule', 'COPY', 'copy_of', 'billing_item', 'copy_of_reason', c._reason)
            else jsonb_build_object('rule', 'COPY', 'copy_of', 'billing_item')
        end as _detail
    from stg.billing_items as s
    left join line_charges as c on c._legacy_table = 'billing_item' and c._legacy_key = s._key
    where not s._deleted
),

-- per admission, the first charge of the first bill of that admission (the carrier of its stay)
admission_carrier as (
    select distinct on (ha.admission_key) ha.admission_key, fc.charge_id
    from headers as h
    join admissions as ha on ha.allocation_key = h.allocation_key
    join bill_first_charge as fc on fc.header_table = h.legacy_table and fc.header_key = h.legacy_key
    where not h.is_deleted
    order by ha.admission_key, h.legacy_table, h.legacy_key
),

-- bed days stored on an allocation, unless a bill of the same admission carries the stay
stays as (
    select
        b._key,
        b.total_charges,
        b.daily_charges,
        ad.admission_id,
        ad.encounter_id,
        ad.allocation_id,
        bt.code as bed_code,
        coalesce(b.created_at, b.admission_date) as created_at,
        ac.charge_id as carrier_id
    from stg.bed_allocations as b
    left join admissions as ad on ad.allocation_key = b._key
    left join admission_carrier as ac on ac.admission_key = ad.admission_key
    left join bed_types as bt on bt._key = b._key
    where not b._deleted and b.total_charges is not null and b.total_charges <> 0
),

stay_charges as (
    select
        coalesce(s.carrier_id, etl.canonical_id('billing.charges', 'bed_allocations', s._key || '#bed_days')) as charge_id,
        s.encounter_id,
        s.admission_id,
        (select d.fee_id from derived as d where d.code = s.bed_code) as fee_id,
        p.qty,
        p.unit_price,
        case when s.allocation_id is not null then 'inpatient.bed_allocations' else 'inpatient.admissions' end as source_table,
        coalesce(s.allocation_id, s.admission_id) as source_id,
        coalesce(s.created_at, now()) as created_at,
        'bed_allocations'::text as _legacy_table,
        s._key || '#bed_days' as _legacy_key,
        case when s.carrier_id is not null then 'MERGED' else 'LOADED' end as _disposition,
        case
            when s.carrier_id is not null then null
            when s.total_charges < 0 then 'NEGATIVE_AMOUNT'
            when s.total_charges >= 10000000000 or s.total_charges <> round(s.total_charges, 2) then 'OUT_OF_RANGE'
            when s.admission_id is null then 'ORPHAN_FK'
        end as _reason,
        case
            when s.carrier_id is not null then jsonb_build_object('rule', 'CARRIED_BY_BILL', 'carried_amount', s.total_charges)
            when s.total_charges < 0 or s.total_charges >= 10000000000 or s.total_charges <> round(s.total_charges, 2)
                then jsonb_build_object('column', 'total_charges', 'amount', s.total_charges)
            when s.admission_id is null
                then jsonb_build_object('column', 'id', 'rule', 'admission of the allocation not loaded', 'amount', s.total_charges)
            when p.warn is not null then jsonb_build_object('warn', p.warn)
        end as _detail
    from stays as s
    cross join lateral (
        select
            case when s.daily_charges > 0 and s.daily_charges = round(s.daily_charges, 2)
                      and round(s.total_charges / s.daily_charges, 3) * s.daily_charges = s.total_charges
                 then round(s.total_charges / s.daily_charges, 3) else 1::numeric end as qty,
            case when s.daily_charges > 0 and s.daily_charges = round(s.daily_charges, 2)
                      and round(s.total_charges / s.daily_charges, 3) * s.daily_charges = s.total_charges
                 then s.daily_charges else s.total_charges end as unit_price,
            case when not (s.daily_charges > 0 and s.daily_charges = round(s.daily_charges, 2)
                           and round(s.total_charges / s.daily_charges, 3) * s.daily_charges = s.total_charges)
                 then 'ENCODING_CONFLICT' end as warn
    ) as p
),

-- consultation fee and OP card amount on the registration row. Materialized: amount and is_variant
-- are read a dozen times below, and an inlined CTE evaluates the money parser once per reference
-- (13 of the 31 s of this transform at 100k patients)
patient_fees as materialized (
    select
        p._key,
        f.col,
        f.txt,
        etl.try_money(f.txt) as amount,
        etl.try_numeric(f.txt) is null as is_variant,
        pr.patient_id,
        coalesce(p.created_at, now()) as created_at
    from stg.patients as p
    cross join lateral (values ('consultation_fee', p.consultation_fee), ('op_card_amount', p.op_card_amount)) as f (col, txt)
    left join patient_ref as pr on pr.legacy_key = p._key
    where not p._deleted and etl.billing_fee_text_says(f.txt)
),

-- per legacy patient: the encounter its registration row opened (the first of its keys)
registration_encounter as (
    select distinct on (split_part(r.legacy_key, '#', 1)) split_part(r.legacy_key, '#', 1) as patient_key, r.encounter_id
    from encounter_ref as r
    where r.legacy_table = 'patients'
    order by split_part(r.legacy_key, '#', 1), r.legacy_key
),

-- per canonical patient: the first encounter
first_encounter as (
    select distinct on (pe.patient_id) pe.patient_id, pe.encounter_id
    from patient_encounters as pe
    order by pe.patient_id, pe.start_at nulls last, pe.encounter_id
),

-- per legacy patient: the first loadable bill line charging a Consultation fee (it carries the
-- registration row's consultation fee)
consultation_carrier as (
    select distinct on (h.patient_key) h.patient_key, c.charge_id
    from line_charges as c
    join headers as h on h.legacy_table = c.header_table and h.legacy_key = c.header_key
    where c.is_consultation and c._reason is null
    order by h.patient_key, c._legacy_table, c._legacy_key
),

patient_fee_links as (
    select
        f.*,
        reg.encounter_id as registration_encounter_id,
        fe.encounter_id as first_encounter_id,
        case when f.col = 'consultation_fee' then cc.charge_id end as carrier_id
    from patient_fees as f
    left join registration_encounter as reg on reg.patient_key = f._key
    left join first_encounter as fe on fe.patient_id = f.patient_id
    left join consultation_carrier as cc on cc.patient_key = f._key
),

fee_charges as (
    select
        coalesce(f.carrier_id, etl.canonical_id('billing.charges', 'patients', f._key || '#' || f.col)) as charge_id,
        coalesce(f.registration_encounter_id, f.first_encounter_id) as encounter_id,
        null::uuid as admission_id,
        (select d.fee_id from derived as d
         where d.code = case f.col when 'consultation_fee' then 'DERIVED.CONSULTATION' else 'DERIVED.OP_CARD' end) as fee_id,
        1::numeric as qty,
        f.amount as unit_price,
        'clinical.encounters'::text as source_table,
        coalesce(f.registration_encounter_id, f.first_encounter_id) as source_id,
        f.created_at,
        'patients'::text as _legacy_table,
        f._key || '#' || f.col as _legacy_key,
        case when f.carrier_id is not null then 'MERGED' else 'LOADED' end as _disposition,
        case
            when f.carrier_id is not null then null
            when f.amount is null then 'UNPARSEABLE_VALUE'
            when f.amount < 0 then 'NEGATIVE_AMOUNT'
            when f.amount >= 10000000000 or f.amount <> round(f.amount, 2) then 'OUT_OF_RANGE'
            when f.patient_id is null or coalesce(f.registration_encounter_id, f.first_encounter_id) is null then 'ORPHAN_FK'
        end as _reason,
        case
            when f.carrier_id is not null then jsonb_build_object('rule', 'CARRIED_BY_BILL', 'carried_amount', f.amount)
            when f.amount is null then jsonb_build_object('column', f.col, 'rule', 'not a money amount')
            when f.amount < 0 or f.amount >= 10000000000 or f.amount <> round(f.amount, 2)
                then jsonb_build_object('column', f.col, 'amount', f.amount)
            when f.patient_id is null then jsonb_build_object('column', 'id', 'rule', 'patient not loaded', 'amount', f.amount)
            when coalesce(f.registration_encounter_id, f.first_encounter_id) is null
                then jsonb_build_object('column', 'id', 'rule', 'the patient has no encounter', 'amount', f.amount)
            when f.registration_encounter_id is null and f.is_variant
                then jsonb_build_object('warn', 'INFERRED_ENCOUNTER', 'warns', jsonb_build_array('INFERRED_ENCOUNTER', 'FORMAT_VARIANT'))
            when f.registration_encounter_id is null then jsonb_build_object('warn', 'INFERRED_ENCOUNTER')
            when f.is_variant then jsonb_build_object('warn', 'FORMAT_VARIANT', 'column', f.col)
        end as _detail
    from patient_fee_links as f
),

final as (
    select
        charge_id, encounter_id, admission_id, fee_id, qty, unit_price, source_table, source_id, created_at,
        _legacy_table, _legacy_key, _disposition, _reason, _detail
    from line_charges

    union all

    select * from copies

    union all

    select * from stay_charges

    union all

    select * from fee_charges
)

select * from final
