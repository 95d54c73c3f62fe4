-- pharmacy.inventory_txns. Grain: one row per stock movement of the immutable, signed ledger: each
-- legacy ledger row, its corrections, and the opening balances and adjustments that make the stock
-- of every batch equal the legacy quantity on hand (Q8: seed opening balances from the batches).
-- Sources: stock_transactions and its ghost twin pharmacy_stock_transactions (one shape, one
-- mapping; empty or absent in a profile: nothing from it); medicine_batches (the quantity on hand)
-- through pharmacy.batches; the drug master through provenance; core.facilities (the one facility);
-- core.departments (issue references); ref.codes map:stock_transactions.* (sql/ref/codes.d/
-- pharmacy_stock.sql); the ledger itself (what is already written is never changed).
--
-- A legacy ledger row (legacy key = its id):
--   type       map:stock_transactions.transaction_type of etl.norm_key(transaction_type); unlisted:
--              quarantined UNMAPPED_VALUE (no type, no sign), NULL: MISSING_VALUE;
--   item       medication_id through provenance (a merged medication -> the survivor's item);
--              NULL: MISSING_VALUE, no live item: ORPHAN_FK;
--   batch      the item's loaded batch with that batch number (case and blanks ignored; two: the one
--              of the same legacy medication, then the lowest legacy key); a number matching none:
--              quarantined UNKNOWN_BATCH; no number: the movement loads without a batch;
--   qty        signed by map:stock_transactions.direction (Q10: 'in' > 0, 'out' < 0, 'either' as
--              stored; a stored sign that contradicts it: WARN WRONG_SIGN), in units: a 'purchase'
--              dated before pharmacy.pack_cutover() counts packs (Q9), times the batch's pack size
--              (WARN PACKS_NOT_UNITS; unknown: kept in packs, unit 'pack', WARN UNKNOWN_PACK_SIZE);
--              0: quarantined ZERO_QTY, NULL: MISSING_VALUE, 10^8 units or more: OUT_OF_RANGE;
--   occurred   transaction_date, else created_at (neither: MISSING_VALUE);
--   reference  ref_table/ref_id: another ledger row (reference_id naming one that loads; naming
--              itself: NULL, WARN REFERENCE_LOOP), a department ('Department Issue: <name>', one
--              core.departments row of that name). Bills, prescriptions and purchases are not
--              canonical rows yet: NULL (reference_id, reference_type and notes stay in
--              legacy_attributes with the unit price and total_amount; a total of 0 that
--              quantity x unit price contradicts is recomputed there, WARN RECOMPUTED_TOTAL).
--   Every applicable reason is quarantined (a zero quantity on an unknown batch: both).
--
-- Immutability (trg_inventory_txns_immutable refuses UPDATE/DELETE): every live row already written
-- (with its ops.legacy_id_map entry) is emitted again exactly as stored, so the engine writes
-- nothing for it and never soft-deletes it. Only new rows are added:
--   1 a legacy row seen loadable for the first time: its movement (id from its legacy key);
--   2 a legacy row already in the ledger whose movement now differs (quantity, sign, unit, item or
--     batch changed; the row deleted in legacy or no longer loadable: nothing): per position (item,
--     batch) one correcting ADJUST of the difference, legacy key '<id>#correction-<n>', dated as the
--     legacy row, ref -> the corrected movement;
--   3 per position (facility, item, batch) whose ledger sum (after 1 and 2) differs from the legacy
--     quantity on hand (medicine_batches.current_quantity in the batch's unit; 0 for the movements
--     without a batch, whose effect the batches' quantities already hold, and for a position whose
--     batch is gone (legacy row deleted or no longer loading) or whose item is no longer the
--     batch's (items merged)): one balancing row of the difference. The first of a live batch is its
--     opening balance, legacy key '<batch id>#opening', GRN dated at the batch's receipt (ADJUST when
--     negative); later ones are ADJUST '<batch id>#adjust-<n>' dated at the legacy batch's last
--     update. Movements without a batch balance per item (ADJUST): legacy table 'unbatched_stock', key
--     '<item id>#opening' / '#adjust-<n>', dated at their first / last movement.
-- Append-only (TableSpec.append_only): rows keep the batch and item they were written with, and the
-- ADJUST zeroing a gone position names them, soft-deleted or not.
-- So a re-run without legacy change writes nothing; a batch quantity changed in legacy without a
-- ledger row gives one ADJUST; a new legacy sale with its ledger row gives that row and no ADJUST;
-- and the stock on hand ("view".stock_on_hand) equals the legacy quantity on hand after every run.
-- _detail names columns, rules and codes only.
with facility as (
    select etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id
),

type_map as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:stock_transactions.transaction_type'
),

direction_map as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:stock_transactions.direction'
),

-- both legacy ledgers, deleted rows included (a movement already in the ledger is then corrected)
ledger_rows as (
    select
        'stock_transactions'::text as legacy_table,
        s._key,
        s._deleted,
        s.medication_id,
        s.transaction_type,
        s.quantity,
        s.unit_price,
        s.total_amount,
        s.batch_number,
        s.reference_id,
        s.notes,
        coalesce(s.transaction_date, s.created_at) as occurred_at,
        s.created_at,
        to_jsonb(s) - array['_key', '_hash', '_change_seq', '_deleted', '_xmin', 'id', 'medication_id',
                            'transaction_date'] as j
    from stg.stock_transactions as s

    union all

    select
        'pharmacy_stock_transactions'::text,
        s._key,
        s._deleted,
        s.medication_id,
        s.transaction_type,
        s.quantity,
        s.unit_price,
        s.total_amount,
        s.batch_number,
        s.reference_id,
        s.notes,
        coalesce(s.transaction_date, s.created_at),
        s.created_at,
        to_jsonb(s) - array['_key', '_hash', '_change_seq', '_deleted', '_xmin', 'id', 'medication_id',
                            'transaction_date']
    from stg.pharmacy_stock_transactions as s
),

item_refs as materialized (
    select m.legacy_table, m.legacy_key, i.item_id
    from etl.mapped_ids('pharmacy.items') as m
    join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
    where m.legacy_table in ('medications', 'medicines')
),

-- the loaded (live) batches
batch_refs as materialized (
    select
        b.batch_id,
        b.item_id,
        upper(replace(b.batch_no, ' ', '')) as batch_key,
        b.unit,
        b.pack_size,
        b.received_on,
        m.legacy_key as batch_legacy_key,
        coalesce(sb.medication_id, sb.medicine_id) as legacy_medication,
        sb.current_quantity,
        sb.created_at as legacy_created_at,
        sb.updated_at as legacy_updated_at
    from pharmacy.batches as b
    join etl.mapped_ids('pharmacy.batches', 'medicine_batches') as m
      on m.canonical_id = b.batch_id and m.disposition = 'LOADED'
    left join stg.medicine_batches as sb on sb._key = m.legacy_key and not sb._deleted
    where b.deleted_at is null
),

departments as (
    select etl.norm_key(d.name) as name_key, min(d.department_id::text)::uuid as department_id
    from core.departments as d
    where d.deleted_at is null
    group by 1
    having count(*) = 1
),

-- what the ledger holds: every live row with its provenance (legacy table, key and base key)
stored as materialized (
    select
        t.*,
        m.legacy_table,
        m.legacy_key,
        split_part(m.legacy_key, '#', 1) as base_key
    from pharmacy.inventory_txns as t
    join etl.mapped_ids('pharmacy.inventory_txns') as m on m.canonical_id = t.txn_id and m.disposition = 'LOADED'
    where t.deleted_at is null
),

-- the balancing stream of a batch position: the batch's legacy key (its provenance; a batch that no
-- longer loads has lost it: the stream its balancing rows already have)
batch_streams as (
    select m.canonical_id as batch_id, m.legacy_key
    from etl.mapped_ids('pharmacy.batches', 'medicine_batches') as m
    where m.disposition = 'LOADED'
    union
    select s.batch_id, min(s.base_key)
    from stored as s
    where s.legacy_table = 'medicine_batches'
      and not exists (select 1 from etl.mapped_ids('pharmacy.batches', 'medicine_batches') as m
                      where m.canonical_id = s.batch_id and m.disposition = 'LOADED')
    group by s.batch_id
),

-- === legacy rows ================================================================================

typed as (
    select
        r.*,
        etl.norm_key(r.transaction_type) as type_key,
        tm.display as txn_type,
        dm.display as direction,
        coalesce(im.item_id, it.item_id) as item_id,
        upper(replace(pharmacy.clean_text(r.batch_number), ' ', '')) as batch_key
    from ledger_rows as r
    left join type_map as tm on tm.code = etl.norm_key(r.transaction_type)
    left join direction_map as dm on dm.code = etl.norm_key(r.transaction_type)
    left join item_refs as im on im.legacy_table = 'medications' and im.legacy_key = r.medication_id::text
    left join item_refs as it on it.legacy_table = 'medicines' and it.legacy_key = r.medication_id::text
),

matched as (
    select distinct on (t.legacy_table, t._key)
        t.*,
        b.batch_id,
        b.pack_size,
        t.type_key = 'purchase' and etl.local_date(t.occurred_at, %(facility_tz)s) < pharmacy.pack_cutover() as in_packs
    from typed as t
    left join batch_refs as b on b.item_id = t.item_id and b.batch_key = t.batch_key
    order by t.legacy_table, t._key, b.legacy_medication = t.medication_id desc nulls last, b.batch_legacy_key
),

measured as (
    select
        m.*,
        abs(m.quantity::numeric) * case when m.in_packs then coalesce(m.pack_size, 1) else 1 end as units,
        case when m.in_packs and m.pack_size is null then 'pack' else 'unit' end as unit,
        (m.direction = 'in' and m.quantity < 0) or (m.direction = 'out' and m.quantity > 0) as wrong_sign,
        case when m.notes ~* '^\s*department issue\s*:' then etl.norm_key(regexp_replace(m.notes, '^\s*[^:]*:', ''))
        end as department_key
    from matched as m
),

checked as (
    select
        x.*,
        case x.direction when 'in' then x.units when 'out' then -x.units
             else sign(x.quantity::numeric) * x.units end as qty,
        array_remove(array[
            case when x.quantity is null then 'MISSING_VALUE' when x.quantity = 0 then 'ZERO_QTY' end,
            case when x.type_key is null then 'MISSING_VALUE' when x.txn_type is null or x.direction is null
                 then 'UNMAPPED_VALUE' end,
            case when x.medication_id is null then 'MISSING_VALUE' when x.item_id is null then 'ORPHAN_FK' end,
            case when x.item_id is not null and x.batch_key is not null and x.batch_id is null then 'UNKNOWN_BATCH' end,
            case when x.occurred_at is null then 'MISSING_VALUE' end,
            case when x.units >= 1e8 then 'OUT_OF_RANGE' end
        ], null) as reasons
    from measured as x
),

-- the legacy rows that load now (a deleted row loads nothing)
loadable as (
    select c.*
    from checked as c
    where not c._deleted and cardinality(c.reasons) = 0
),

legacy_ids as (
    select
        l.legacy_table,
        l._key,
        etl.canonical_id('pharmacy.inventory_txns', l.legacy_table, l._key) as txn_id
    from loadable as l
),

-- the ledger rows a reference can name: those that load now, and the movements already written
ref_targets as (
    select li.legacy_table, li._key, li.txn_id from legacy_ids as li
    union
    select s.legacy_table, s.legacy_key, s.txn_id from stored as s
    where s.legacy_key = s.base_key and s.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
),

ledger_refs as (
    select distinct on (l.legacy_table, l._key)
        l.legacy_table,
        l._key,
        x.txn_id,
        x.legacy_table = l.legacy_table and x._key = l._key as self_reference
    from loadable as l
    join ref_targets as x on x._key = l.reference_id::text
    order by l.legacy_table, l._key, x.legacy_table <> l.legacy_table, x.legacy_table
),

new_movements as (
    select
        l.*,
        i.txn_id,
        case when r.self_reference then null
             when r.txn_id is not null then 'pharmacy.inventory_txns'
             when d.department_id is not null then 'core.departments' end as ref_table,
        case when r.self_reference then null
             when r.txn_id is not null then r.txn_id
             else d.department_id end as ref_id,
        array_remove(array[
            case when l.wrong_sign then 'WRONG_SIGN' end,
            case when l.in_packs and l.pack_size > 1 then 'PACKS_NOT_UNITS' end,
            case when l.in_packs and l.pack_size is null then 'UNKNOWN_PACK_SIZE' end,
            case when l.total_amount = 0 and l.unit_price > 0 then 'RECOMPUTED_TOTAL' end,
            case when r.self_reference then 'REFERENCE_LOOP' end
        ], null) as warns
    from loadable as l
    join legacy_ids as i on i.legacy_table = l.legacy_table and i._key = l._key
    left join ledger_refs as r on r.legacy_table = l.legacy_table and r._key = l._key
    left join departments as d on d.name_key = l.department_key
),

-- === streams: what each legacy row should hold in the ledger, against what it holds =============

streams as (
    select s.legacy_table, s.base_key, count(*) as n_rows,
           count(*) filter (where strpos(s.legacy_key, '#correction-') > 0) as n_corrections,
           max(s.occurred_at) filter (where s.legacy_key = s.base_key) as original_at
    from stored as s
    where s.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
    group by 1, 2
),

-- first movements: loadable legacy rows with nothing in the ledger yet
firsts as (
    select n.*
    from new_movements as n
    where not exists (select 1 from streams as st where st.legacy_table = n.legacy_table and st.base_key = n._key)
),

held as (
    select s.legacy_table, s.base_key, s.facility_id, s.item_id, s.batch_id, sum(s.qty) as qty, max(s.unit) as unit
    from stored as s
    where s.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
    group by 1, 2, 3, 4, 5
),

wanted as (
    select n.legacy_table, n._key as base_key, f.facility_id, n.item_id, n.batch_id, n.qty, n.unit
    from new_movements as n
    cross join facility as f
    where exists (select 1 from streams as st where st.legacy_table = n.legacy_table and st.base_key = n._key)
),

differences as (
    select
        coalesce(w.legacy_table, h.legacy_table) as legacy_table,
        coalesce(w.base_key, h.base_key) as base_key,
        coalesce(w.facility_id, h.facility_id) as facility_id,
        coalesce(w.item_id, h.item_id) as item_id,
        coalesce(w.batch_id, h.batch_id) as batch_id,
        coalesce(w.qty, 0) - coalesce(h.qty, 0) as qty,
        coalesce(w.unit, h.unit) as unit
    from wanted as w
    full join held as h
      on h.legacy_table = w.legacy_table and h.base_key = w.base_key and h.facility_id = w.facility_id
     and h.item_id is not distinct from w.item_id and h.batch_id is not distinct from w.batch_id
),

corrections as (
    select
        d.*,
        d.base_key || '#correction-' || (st.n_corrections + row_number() over (
            partition by d.legacy_table, d.base_key order by d.item_id, d.batch_id nulls first)) as legacy_key,
        coalesce(c.occurred_at, st.original_at) as occurred_at,
        etl.canonical_id('pharmacy.inventory_txns', d.legacy_table, d.base_key) as corrected_id,
        case when c._key is null or c._deleted then 'legacy row deleted'
             when cardinality(c.reasons) > 0 then 'legacy row no longer loads'
             else 'legacy row changed' end as rule
    from differences as d
    join streams as st on st.legacy_table = d.legacy_table and st.base_key = d.base_key
    left join checked as c on c.legacy_table = d.legacy_table and c._key = d.base_key
    where d.qty <> 0
),

-- === positions: the stock of each (facility, item, batch) against the legacy quantity on hand ==

-- the ledger after this run's new legacy movements and corrections
ledger_after as (
    select t.facility_id, t.item_id, t.batch_id, t.qty, t.unit, t.occurred_at
    from pharmacy.inventory_txns as t
    where t.deleted_at is null

    union all

    select f.facility_id, n.item_id, n.batch_id, n.qty, n.unit, n.occurred_at
    from firsts as n
    cross join facility as f

    union all

    select c.facility_id, c.item_id, c.batch_id, c.qty, c.unit, c.occurred_at
    from corrections as c
),

on_hand as (
    select
        f.facility_id,
        b.item_id,
        b.batch_id,
        b.current_quantity::numeric
            * case when b.received_on < pharmacy.pack_cutover() then coalesce(b.pack_size, 1) else 1 end as qty,
        b.unit,
        b.received_on,
        b.legacy_created_at,
        b.legacy_updated_at
    from batch_refs as b
    cross join facility as f
    where b.current_quantity is not null
),

positions as (
    select
        coalesce(o.facility_id, l.facility_id) as facility_id,
        coalesce(o.item_id, l.item_id) as item_id,
        coalesce(o.batch_id, l.batch_id) as batch_id,
        coalesce(o.qty, 0) - coalesce(l.qty, 0) as qty,
        coalesce(o.unit, l.unit, 'unit') as unit,
        o.batch_id is not null or l.batch_id is null as current,
        o.received_on,
        o.legacy_created_at,
        o.legacy_updated_at,
        l.first_at,
        l.last_at
    from on_hand as o
    full join (
        select a.facility_id, a.item_id, a.batch_id, sum(a.qty) as qty, min(a.occurred_at) as first_at,
               max(a.occurred_at) as last_at, case when count(distinct a.unit) = 1 then min(a.unit) end as unit
        from ledger_after as a
        group by 1, 2, 3
    ) as l
      on l.facility_id = o.facility_id and l.item_id is not distinct from o.item_id and l.batch_id = o.batch_id
),

balancing as (
    select
        p.*,
        case when p.batch_id is null then 'unbatched_stock' else 'medicine_batches' end as legacy_table,
        coalesce(case when p.batch_id is null then p.item_id::text end, bs.legacy_key, p.batch_id::text) as stream_key
    from positions as p
    left join batch_streams as bs on bs.batch_id = p.batch_id
    where p.qty <> 0
),

balancing_numbered as (
    select
        b.*,
        coalesce(st.n_rows, 0) = 0 and b.rn = 1 and b.current as opening,
        coalesce(st.n_adjusts, 0) as n_adjusts
    from (
        select b.*, row_number() over (partition by b.legacy_table, b.stream_key
                                       order by b.current desc, b.item_id, b.batch_id) as rn
        from balancing as b
    ) as b
    left join (
        select s.legacy_table, s.base_key, count(*) as n_rows,
               count(*) filter (where strpos(s.legacy_key, '#adjust-') > 0) as n_adjusts
        from stored as s
        where s.legacy_table in ('medicine_batches', 'unbatched_stock')
        group by 1, 2
    ) as st on st.legacy_table = b.legacy_table and st.base_key = b.stream_key
),

balancing_keyed as (
    select
        b.*,
        b.stream_key || case when b.opening then '#opening'
                             else '#adjust-' || (b.n_adjusts + row_number() over (
                                 partition by b.legacy_table, b.stream_key, b.opening order by b.rn)) end as legacy_key
    from balancing_numbered as b
),

-- === the candidates =============================================================================

final as (
    -- 0 what the ledger holds, as stored (warnings of the legacy row's current version)
    select
        s.txn_id,
        s.item_id,
        s.batch_id,
        s.facility_id,
        s.txn_type,
        s.qty,
        s.unit,
        s.ref_table,
        s.ref_id,
        s.occurred_at,
        s.legacy_attributes,
        s.created_at,
        s.legacy_table as _legacy_table,
        s.legacy_key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when cardinality(n.warns) > 0 then jsonb_build_object('warn', n.warns[1], 'warns', to_jsonb(n.warns)) end
            as _detail
    from stored as s
    left join new_movements as n on n.legacy_table = s.legacy_table and n._key = s.legacy_key

    union all

    -- 1 first movements of legacy rows
    select
        n.txn_id,
        n.item_id,
        n.batch_id,
        f.facility_id,
        n.txn_type,
        n.qty,
        n.unit,
        n.ref_table,
        n.ref_id,
        n.occurred_at,
        n.j || jsonb_strip_nulls(jsonb_build_object(
            'total_amount', case when n.total_amount = 0 and n.unit_price > 0 then round(abs(n.quantity) * n.unit_price, 2) end,
            'total_recomputed', case when n.total_amount = 0 and n.unit_price > 0 then true end)),
        coalesce(n.created_at, now()),
        n.legacy_table,
        n._key,
        'LOADED',
        null,
        case when cardinality(n.warns) > 0 then jsonb_build_object('warn', n.warns[1], 'warns', to_jsonb(n.warns)) end
    from firsts as n
    cross join facility as f

    union all

    -- 2 corrections of legacy rows already in the ledger
    select
        etl.canonical_id('pharmacy.inventory_txns', c.legacy_table, c.legacy_key),
        c.item_id,
        c.batch_id,
        c.facility_id,
        'ADJUST',
        c.qty,
        c.unit,
        'pharmacy.inventory_txns',
        c.corrected_id,
        coalesce(c.occurred_at, now()),
        null::jsonb,
        now(),
        c.legacy_table,
        c.legacy_key,
        'LOADED',
        null,
        jsonb_build_object('warn', 'LEDGER_CORRECTION', 'warns', jsonb_build_array('LEDGER_CORRECTION'), 'rule', c.rule)
    from corrections as c

    union all

    -- 3 opening balances and adjustments to the legacy quantity on hand
    select
        etl.canonical_id('pharmacy.inventory_txns', b.legacy_table, b.legacy_key),
        b.item_id,
        b.batch_id,
        b.facility_id,
        case when b.opening and b.qty > 0 and b.batch_id is not null then 'GRN' else 'ADJUST' end,
        b.qty,
        b.unit,
        null::text,
        null::uuid,
        case when b.opening
             then coalesce(etl.local_wall_clock(b.received_on, time '00:00', %(facility_tz)s), b.legacy_created_at,
                           b.first_at)
             else coalesce(b.legacy_updated_at, b.legacy_created_at,
                           etl.local_wall_clock(b.received_on, time '00:00', %(facility_tz)s), b.last_at) end,
        null::jsonb,
        now(),
        b.legacy_table,
        b.legacy_key,
        'LOADED',
        null,
        jsonb_build_object('rule', case
            when b.batch_id is null then 'movements without a batch: the batches'' legacy quantities already hold them'
            when b.opening then 'opening balance: legacy quantity on hand less the legacy movements'
            else 'legacy quantity on hand changed without a ledger row' end)
    from balancing_keyed as b

    union all

    -- quarantine: every reason of a legacy row that does not load
    select
        null::uuid, null::uuid, null::uuid, null::uuid, null::text, null::numeric, null::text, null::text,
        null::uuid, null::timestamptz, null::jsonb, null::timestamptz,
        c.legacy_table,
        c._key,
        'LOADED',
        q.reason,
        q.detail
    from checked as c
    cross join lateral (
        select distinct on (v.reason) v.reason, v.detail
        from (values
            (1, case when c.quantity is null then 'MISSING_VALUE' end,
             jsonb_build_object('column', 'quantity', 'rule', 'a movement without a quantity')),
            (2, case when c.quantity = 0 then 'ZERO_QTY' end,
             jsonb_build_object('column', 'quantity', 'rule', 'a movement of quantity 0')),
            (3, case when c.type_key is null then 'MISSING_VALUE' end,
             jsonb_build_object('column', 'transaction_type', 'rule', 'a movement without a type has no sign')),
            (4, case when c.type_key is not null and (c.txn_type is null or c.direction is null) then 'UNMAPPED_VALUE' end,
             jsonb_build_object('column', 'transaction_type', 'rule', 'type not in ref.codes map:stock_transactions.transaction_type/direction')),
            (5, case when c.medication_id is null then 'MISSING_VALUE' end,
             jsonb_build_object('column', 'medication_id', 'rule', 'a movement names no drug')),
            (6, case when c.medication_id is not null and c.item_id is null then 'ORPHAN_FK' end,
             jsonb_build_object('column', 'medication_id', 'rule', 'no live item for the drug reference')),
            (7, case when c.item_id is not null and c.batch_key is not null and c.batch_id is null then 'UNKNOWN_BATCH' end,
             jsonb_build_object('column', 'batch_number', 'rule', 'no loaded batch of the item has this batch number')),
            (8, case when c.occurred_at is null then 'MISSING_VALUE' end,
             jsonb_build_object('columns', jsonb_build_array('transaction_date', 'created_at'), 'rule', 'a movement without a date')),
            (9, case when c.units >= 1e8 then 'OUT_OF_RANGE' end,
             jsonb_build_object('column', 'quantity', 'rule', 'a quantity of 10^8 units or more'))
        ) as v (ord, reason, detail)
        where v.reason is not null
        order by v.reason, v.ord
    ) as q
    where not c._deleted and cardinality(c.reasons) > 0
)

select * from final
