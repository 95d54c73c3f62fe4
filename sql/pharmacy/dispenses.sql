-- pharmacy.dispenses. Grain: one row per dispensing of a prescription line from one batch.
-- Sources (the blueprint's "prescription_dispensed/dispensing -> pharmacy.dispenses"):
--   * prescription_dispensed_items (the PDS header + items model, Decision 8): one dispense per item
--     row; its header prescription_dispensed (by prescription_dispensed_id) gives the prescription,
--     dispensed_at and dispensed_by. The header itself is no dispense: it is MERGED into the
--     dispense of its first item (by legacy key) that loads; a header without one is quarantined
--     (ORPHAN_HEADER) and retried with its items.
--   * prescription_dispensing (the ghost dispensePrescription writes since 2026-02-15): one
--     dispense per row.
-- Columns of other variants are read only where the legacy column exists (to_jsonb of the row):
-- CDSD's prescription_dispensed_items.prescription_item_id and batch_id.
--
-- rx_line (the line the dispense answers; the suite's rx_line_id expectation is a WARN), first of:
--   prescription_item_id (where it exists) -> pharmacy.rx_lines through provenance; the legacy
--   line of (prescription_id, medication_id) (unique in legacy, the first by key when repeated);
--   the one line of the prescription whose item is the dispense's item (a merged medication).
--   None (or a prescription_dispensed_id naming no header): NULL, WARN ORPHAN_FK.
-- item of the dispense: medication_id -> pharmacy.items through provenance (a merged drug row ->
--   its survivor's item), else the line's item.
-- batch (required: recall and expiry tracing; pharmacy.batches, mapped from medicine_batches through
--   ops.legacy_id_map; a live row), first of:
--   1 batch_id (where it exists) -> the batch of that medicine_batches row;
--   2 batch_number (blanks, case: pharmacy.norm_code) among the batches of the dispense's item (the
--     legacy batch rows whose medication_id or medicine_id maps to the item): exactly one batch;
--   3 batch_number alone, when the dispense's item is unknown: exactly one batch with that number
--     (WARN AMBIGUOUS_REF, detail.batch 'by number alone');
--   4 no batch named (prescription_dispensing never names one): the item's only batch, when every
--     legacy batch row of the item is that one batch (WARN AMBIGUOUS_REF, detail.batch 'the item''s
--     only batch').
--   None: quarantined: ORPHAN_FK (a batch named that no live batch matches, column batch_number or
--   batch_id), AMBIGUOUS_REF (the number names several batches of the item), MISSING_VALUE (no batch
--   named and not one batch to take). Retried on every run that writes batches.
-- qty = quantity_dispensed: NULL MISSING_VALUE, 0 ZERO_QTY, negative or from 10^9 OUT_OF_RANGE
--   (quarantined: the DDL CHECK qty > 0; a return is a stock movement, not a dispense).
-- dispensed_at: the header's (PDS) or the row's (prescription_dispensing) dispensed_at, else the
--   row's created_at; none: quarantined MISSING_VALUE. dispensed_by: a users id -> core.staff
--   through provenance (the login's staff member); unresolved: NULL, WARN ORPHAN_FK.
-- Legacy columns: ids, prescription_dispensed_id, prescription_id, medication_id, batch_number,
--   quantity_dispensed, dispensed_at, dispensed_by, created_at (mapped above); patient_id (the
--   prescription's patient, through its encounter) and the header's created_at (its dispensed_at is
--   the time): dropped; kept in legacy_attributes: unit_price,
--   total_price, batch_number as written, the header's total_amount, payment_status and notes
--   (money and payment state are billing's, principle 5), prescription_dispensing's
--   quantity_prescribed, status and notes.
-- _detail: 'warn' is a row's first warning, 'warns' all of them; column names and rules only.
with headers as (
    select h.*
    from stg.prescription_dispensed as h
    where not h._deleted
),

dispensed_items as (
    select
        'prescription_dispensed_items'::text as legacy_table,
        i._key,
        h._key as header_key,
        i.prescription_dispensed_id is not null and h._key is null as header_missing,
        h.prescription_id,
        i.medication_id,
        to_jsonb(i) ->> 'prescription_item_id' as line_ref,
        to_jsonb(i) ->> 'batch_id' as batch_ref,
        i.batch_number,
        i.quantity_dispensed,
        coalesce(h.dispensed_at, i.created_at) as dispensed_at,
        h.dispensed_by,
        coalesce(i.created_at, h.dispensed_at) as created_at,
        jsonb_strip_nulls(jsonb_build_object(
            'unit_price', i.unit_price, 'total_price', i.total_price, 'batch_number', i.batch_number,
            'header_total_amount', h.total_amount, 'header_payment_status', h.payment_status,
            'header_notes', h.notes)) as attributes
    from stg.prescription_dispensed_items as i
    left join headers as h on h._key = i.prescription_dispensed_id::text
    where not i._deleted
),

dispensing as (
    select
        'prescription_dispensing'::text as legacy_table,
        d._key,
        null::text as header_key,
        false as header_missing,
        d.prescription_id,
        d.medication_id,
        null::text as line_ref,
        null::text as batch_ref,
        null::text as batch_number,
        d.quantity_dispensed,
        d.dispensed_at,
        d.dispensed_by,
        d.dispensed_at as created_at,
        jsonb_strip_nulls(jsonb_build_object(
            'quantity_prescribed', d.quantity_prescribed, 'status', d.status, 'notes', d.notes)) as attributes
    from stg.prescription_dispensing as d
    where not d._deleted
),

events as (
    select * from dispensed_items
    union all
    select * from dispensing
),

-- === lookups through provenance ==================================================================

item_map as materialized (
    select m.legacy_table, m.legacy_key, m.canonical_id as item_id
    from etl.mapped_ids('pharmacy.items') as m
    join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
),

line_map as materialized (
    select m.legacy_key, l.rx_line_id, l.item_id
    from etl.mapped_ids('pharmacy.rx_lines', 'prescription_items') as m
    join pharmacy.rx_lines as l on l.rx_line_id = m.canonical_id and l.deleted_at is null
),

-- the legacy line of each (prescription, medication), the first by key when repeated
legacy_lines as (
    select distinct on (s.prescription_id, s.medication_id) s.prescription_id, s.medication_id, s._key
    from stg.prescription_items as s
    where not s._deleted and s.prescription_id is not null and s.medication_id is not null
    order by s.prescription_id, s.medication_id, s._key
),

-- the live lines of each legacy prescription, with their items
prescription_lines as materialized (
    select s.prescription_id, lm.rx_line_id, lm.item_id
    from stg.prescription_items as s
    join line_map as lm on lm.legacy_key = s._key
    where not s._deleted
),

staff_ref as materialized (
    select m.legacy_key, st.staff_id
    from etl.mapped_ids('core.staff', 'users') as m
    join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
),

batch_map as materialized (
    select m.legacy_key, pb.batch_id, pb.item_id
    from etl.mapped_ids('pharmacy.batches', 'medicine_batches') as m
    join pharmacy.batches as pb on pb.batch_id = m.canonical_id and pb.deleted_at is null
),

-- every legacy batch row: its live batch and that batch's item (a row that did not load: the item
-- its medication_id or medicine_id maps to, so it still counts against "the item's only batch")
batch_rows as materialized (
    select
        b._key,
        pharmacy.norm_code(b.batch_number) as batch_key,
        bm.batch_id,
        coalesce(bm.item_id, im1.item_id, im2.item_id, im3.item_id) as item_id
    from stg.medicine_batches as b
    left join batch_map as bm on bm.legacy_key = b._key
    left join item_map as im1 on im1.legacy_table = 'medications' and im1.legacy_key = b.medication_id::text
    left join item_map as im2 on im2.legacy_table = 'medications' and im2.legacy_key = b.medicine_id::text
    left join item_map as im3 on im3.legacy_table = 'medicines' and im3.legacy_key = b.medicine_id::text
    where not b._deleted
),

-- (item, batch number) -> its live batches; number alone -> its live batches; item -> its only batch
by_item_number as (
    select r.item_id, r.batch_key, count(distinct r.batch_id) as n_batches, (array_agg(r.batch_id))[1] as batch_id
    from batch_rows as r
    where r.batch_id is not null and r.item_id is not null and r.batch_key is not null
    group by r.item_id, r.batch_key
),

by_number as (
    select r.batch_key, count(distinct r.batch_id) as n_batches, (array_agg(r.batch_id))[1] as batch_id
    from batch_rows as r
    where r.batch_id is not null and r.batch_key is not null
    group by r.batch_key
),

only_batch as (
    select r.item_id, (array_agg(r.batch_id))[1] as batch_id
    from batch_rows as r
    where r.item_id is not null
    group by r.item_id
    having count(*) filter (where r.batch_id is null) = 0 and count(distinct r.batch_id) = 1
),

-- === per dispense ================================================================================

resolved as (
    select
        e.*,
        pharmacy.norm_code(e.batch_number) as batch_key,
        coalesce(byref.rx_line_id, bypair.rx_line_id) as pair_line,
        coalesce(im1.item_id, im2.item_id) as med_item,
        sr.staff_id as dispensed_by_staff,
        bid.batch_id as batch_by_id
    from events as e
    left join line_map as byref on byref.legacy_key = e.line_ref
    left join legacy_lines as ll on ll.prescription_id = e.prescription_id and ll.medication_id = e.medication_id
    left join line_map as bypair on bypair.legacy_key = ll._key
    left join item_map as im1 on im1.legacy_table = 'medications' and im1.legacy_key = e.medication_id::text
    left join item_map as im2 on im2.legacy_table = 'medicines' and im2.legacy_key = e.medication_id::text
    left join staff_ref as sr on sr.legacy_key = e.dispensed_by::text
    left join batch_map as bid on bid.legacy_key = e.batch_ref
),

-- the one line of the prescription with the dispense's item, where the legacy pair names none
item_lines as (
    select r.legacy_table, r._key, count(*) as n_lines, (array_agg(pl.rx_line_id))[1] as rx_line_id
    from resolved as r
    join prescription_lines as pl on pl.prescription_id = r.prescription_id and pl.item_id = r.med_item
    where r.pair_line is null
    group by r.legacy_table, r._key
),

lined as (
    select
        r.*,
        coalesce(r.pair_line, case when il.n_lines = 1 then il.rx_line_id end) as rx_line_id,
        coalesce(r.med_item, lm.item_id) as item_id
    from resolved as r
    left join item_lines as il on il.legacy_table = r.legacy_table and il._key = r._key
    left join line_map as lm on lm.rx_line_id = coalesce(r.pair_line, case when il.n_lines = 1 then il.rx_line_id end)
),

batched as (
    select
        l.*,
        bin.n_batches as item_number_batches,
        bn.n_batches as number_batches,
        case
            when l.batch_by_id is not null then l.batch_by_id
            when l.batch_key is not null and l.item_id is not null then case when bin.n_batches = 1 then bin.batch_id end
            when l.batch_key is not null then case when bn.n_batches = 1 then bn.batch_id end
            when l.batch_ref is null then ob.batch_id
        end as batch_id,
        case
            when l.batch_by_id is not null then null
            when l.batch_key is not null and l.item_id is null and bn.n_batches = 1 then 'by number alone'
            when l.batch_key is null and l.batch_ref is null and ob.batch_id is not null then 'the item''s only batch'
        end as batch_rule
    from lined as l
    left join by_item_number as bin on bin.item_id = l.item_id and bin.batch_key = l.batch_key
    left join by_number as bn on bn.batch_key = l.batch_key
    left join only_batch as ob on ob.item_id = l.item_id
),

checked as (
    select
        b.*,
        case
            when b.quantity_dispensed is null then 'MISSING_VALUE'
            when b.quantity_dispensed = 0 then 'ZERO_QTY'
            when b.quantity_dispensed < 0 or b.quantity_dispensed >= 1000000000 then 'OUT_OF_RANGE'
            when b.dispensed_at is null then 'MISSING_VALUE'
            when b.batch_id is null and b.batch_ref is not null then 'ORPHAN_FK'
            when b.batch_id is null and b.batch_key is not null
                 and coalesce(case when b.item_id is not null then b.item_number_batches else b.number_batches end, 0) > 1
                then 'AMBIGUOUS_REF'
            when b.batch_id is null and b.batch_key is not null then 'ORPHAN_FK'
            when b.batch_id is null then 'MISSING_VALUE'
        end as reason,
        array_remove(array[
            case when b.batch_rule is not null then 'AMBIGUOUS_REF' end,  -- batch
            case when b.rx_line_id is null or b.header_missing then 'ORPHAN_FK' end,  -- prescription line / header
            case when b.dispensed_by is not null and b.dispensed_by_staff is null then 'ORPHAN_FK' end  -- dispensed_by
        ], null) as warns
    from batched as b
),

loads as (
    select
        c.*,
        etl.canonical_id('pharmacy.dispenses', c.legacy_table, c._key) as dispense_id
    from checked as c
),

-- each header: the dispense of its first item (by key) that loads
header_targets as (
    select distinct on (l.header_key) l.header_key, l.dispense_id
    from loads as l
    where l.header_key is not null and l.reason is null
    order by l.header_key, l._key
),

final as (
    select
        l.dispense_id,
        l.rx_line_id,
        l.batch_id,
        case when l.reason is null then l.quantity_dispensed end::numeric(12,3) as qty,
        l.dispensed_at,
        l.dispensed_by_staff as dispensed_by,
        l.attributes as legacy_attributes,
        coalesce(l.created_at, l.dispensed_at) as created_at,
        l.legacy_table as _legacy_table,
        l._key as _legacy_key,
        'LOADED'::text as _disposition,
        l.reason as _reason,
        case
            when l.reason is not null then jsonb_build_object(
                'column', case
                    when l.reason in ('ZERO_QTY', 'OUT_OF_RANGE') or l.quantity_dispensed is null then 'quantity_dispensed'
                    when l.dispensed_at is null then 'dispensed_at'
                    when l.batch_ref is not null then 'batch_id'
                    else 'batch_number' end,
                'rule', case
                    when l.reason = 'ZERO_QTY' then 'a dispense has a quantity > 0'
                    when l.reason = 'OUT_OF_RANGE' then 'a dispense has a quantity > 0 and below 10^9'
                    when l.quantity_dispensed is null then 'a dispense has a quantity'
                    when l.dispensed_at is null then 'a dispense has a time'
                    when l.reason = 'AMBIGUOUS_REF' then 'the batch number names several batches of the item'
                    when l.reason = 'ORPHAN_FK' and l.batch_ref is not null then 'no live batch from that medicine_batches row'
                    when l.reason = 'ORPHAN_FK' then 'no live batch of the item has that batch number'
                    else 'no batch named and the item has not exactly one batch' end)
            when l.warns <> '{}' then jsonb_strip_nulls(jsonb_build_object(
                'warn', l.warns[1],
                'warns', to_jsonb(l.warns),
                'batch', l.batch_rule,
                'columns', to_jsonb(array_remove(array[
                    case when l.header_missing then 'prescription_dispensed_id' end,
                    case when l.rx_line_id is null then 'prescription_id' end,
                    case when l.dispensed_by is not null and l.dispensed_by_staff is null then 'dispensed_by' end], null))))
        end as _detail
    from loads as l

    union all

    -- dispensing headers: MERGED into their first loading item, else quarantined
    select
        t.dispense_id,
        null::uuid,
        null::uuid,
        null::numeric(12,3),
        null::timestamptz,
        null::uuid,
        null::jsonb,
        null::timestamptz,
        'prescription_dispensed'::text,
        h._key,
        case when t.dispense_id is null then 'LOADED' else 'MERGED' end,
        case when t.dispense_id is null then 'ORPHAN_HEADER' end,
        case when t.dispense_id is null
             then jsonb_build_object('column', 'prescription_dispensed_id',
                                     'rule', 'dispensing header without a dispensed item that loads') end
    from headers as h
    left join header_targets as t on t.header_key = h._key
)

select * from final
