-- pharmacy.batches. Grain: one row per legacy batch (lot) of an item (medicine_batches); the same
-- batch number under different items is different batches.
-- Sources: medicine_batches; the drug master through provenance (pharmacy.items' ops.legacy_id_map:
-- a medication MERGED into another resolves to the survivor's item).
--
-- Item (Q5, contract defect 8): medicine_id and medication_id both hold medications ids (medicine_id
-- once pointed at the medicines table, so it also resolves against medicines where that is a table).
-- Whichever is set resolves; only one set, or both set with one resolving: WARN AMBIGUOUS_REF.
-- Quarantined: neither set (MISSING_VALUE), neither resolves to a live item (ORPHAN_FK), both
-- resolve to different items (CONFLICTING_REF).
-- Quantities (Q9, contract defect 5): received_quantity and current_quantity of a batch received
-- before pharmacy.pack_cutover() (2026-02-27; receipt = received_date, else the day of created_at)
-- are packs, later ones units. Packs are converted with the pack size the batch's notes state
-- ('pack of N', pharmacy.pack_size_of; WARN PACKS_NOT_UNITS when N > 1); with no pack size they stay
-- packs (unit 'pack', WARN UNKNOWN_PACK_SIZE). initial_qty = received_quantity in the batch's unit
-- (a negative one is no quantity: NULL, WARN OUT_OF_RANGE). The quantity on hand is not a column:
-- stock is derived from the ledger (sql/pharmacy/inventory_txns.sql opens each batch with it).
-- A batch without current_quantity cannot be opened, nor one without a receipt date (neither
-- received_date nor created_at: no unit, no opening date): quarantined MISSING_VALUE; a quantity of
-- 10^8 units or more is none a pharmacy holds: quarantined OUT_OF_RANGE.
-- A batch number another legacy drug also uses (Q5): WARN AMBIGUOUS_REF (the batches stay apart).
-- A blank batch number loads NULL (WARN MISSING_VALUE; no ledger row can name it).
-- Expired batches load (history): the engine sets hms.migration_bypass, the expiry trigger audits
-- each one in ops.audit_log.
-- A batch whose legacy row is deleted or no longer loads is soft-deleted (the engine); the ledger
-- rows that name it stay as written (an append-only table keeps its parents) and the ledger zeroes
-- its stock (sql/pharmacy/inventory_txns.sql).
-- legacy_attributes: prices (per pack), supplier, purchase, raw quantities, status flags, legacy
-- code, notes. _detail names columns and rules only.
with batches as (
    select
        s._key,
        s.medicine_id,
        s.medication_id,
        pharmacy.clean_text(s.batch_number) as batch_no,
        s.expiry_date,
        coalesce(s.received_date, etl.local_date(s.created_at, %(facility_tz)s)) as received_on,
        s.received_date is null as receipt_missing,
        s.received_quantity,
        s.current_quantity,
        pharmacy.pack_size_of(s.notes) as pack_size,
        s.created_at,
        to_jsonb(s) - array['_key', '_hash', '_change_seq', '_deleted', '_xmin', 'id', 'medicine_id', 'medication_id',
                            'batch_number', 'expiry_date', 'received_date', 'quantity', 'created_at', 'updated_at'] as j
    from stg.medicine_batches as s
    where not s._deleted
),

item_refs as materialized (
    select m.legacy_table, m.legacy_key, i.item_id
    from etl.mapped_ids('pharmacy.items') as m
    join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
    where m.legacy_table in ('medications', 'medicines')
),

-- batch numbers two legacy drugs use (the uniqueness is per medication_id only)
reused_numbers as (
    select b.batch_no
    from batches as b
    where b.batch_no is not null
    group by b.batch_no
    having count(distinct coalesce(b.medication_id, b.medicine_id)) > 1
),

-- === per legacy batch ===========================================================================

resolved as (
    select
        b.*,
        by_medication.item_id as medication_item,
        coalesce(by_medicine_m.item_id, by_medicine_t.item_id) as medicine_item,
        b.received_on < pharmacy.pack_cutover() as in_packs
    from batches as b
    left join item_refs as by_medication
      on by_medication.legacy_table = 'medications' and by_medication.legacy_key = b.medication_id::text
    left join item_refs as by_medicine_m
      on by_medicine_m.legacy_table = 'medications' and by_medicine_m.legacy_key = b.medicine_id::text
    left join item_refs as by_medicine_t
      on by_medicine_t.legacy_table = 'medicines' and by_medicine_t.legacy_key = b.medicine_id::text
),

measured as (
    select
        r.*,
        coalesce(r.medication_item, r.medicine_item) as item_id,
        case when r.in_packs and r.pack_size is null then 'pack' else 'unit' end as unit,
        case when r.in_packs then coalesce(r.pack_size, 1) else 1 end as factor
    from resolved as r
),

checked as (
    select
        m.*,
        case when m.received_quantity >= 0 then m.received_quantity::numeric * m.factor end as received,
        case
            when m.medication_id is null and m.medicine_id is null then 'MISSING_VALUE'
            when m.item_id is null then 'ORPHAN_FK'
            when m.medication_item <> m.medicine_item then 'CONFLICTING_REF'
            when m.current_quantity is null or m.received_on is null then 'MISSING_VALUE'
            when abs(m.current_quantity::numeric * m.factor) >= 1e8
              or abs(coalesce(m.received_quantity, 0)::numeric * m.factor) >= 1e8 then 'OUT_OF_RANGE'
        end as reason,
        array_remove(array[
            case when m.in_packs and m.pack_size > 1 then 'PACKS_NOT_UNITS' end,
            case when m.in_packs and m.pack_size is null then 'UNKNOWN_PACK_SIZE' end,
            case when (m.medication_id is null) <> (m.medicine_id is null)
                   or m.medication_item is null or m.medicine_item is null
                   -- IN (a hashed subplan: one hash of the few reused numbers), not a correlated
                   -- EXISTS, which re-ran the grouping once per batch row (quadratic)
                   or m.batch_no in (select u.batch_no from reused_numbers as u)
                 then 'AMBIGUOUS_REF' end,
            case when m.batch_no is null or m.receipt_missing then 'MISSING_VALUE' end,
            case when m.received_quantity < 0 then 'OUT_OF_RANGE' end
        ], null) as warns
    from measured as m
),

loadable as (
    select
        etl.canonical_id('pharmacy.batches', 'medicine_batches', c._key) as batch_id,
        c.*
    from checked as c
    where c.reason is null
),

final as (
    select
        l.batch_id,
        l.item_id,
        l.batch_no,
        l.expiry_date as expiry,
        l.received as initial_qty,
        l.received_on,
        l.unit,
        l.pack_size,
        l.j || jsonb_build_object('quantity_unit', case when l.in_packs then 'pack' else 'unit' end) as legacy_attributes,
        coalesce(l.created_at, now()) as created_at,
        'medicine_batches'::text as _legacy_table,
        l._key as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        case when cardinality(l.warns) > 0
             then jsonb_build_object('warn', l.warns[1], 'warns', to_jsonb(l.warns)) end as _detail
    from loadable as l


    union all

    select
        null::uuid, null::uuid, null::text, null::date, null::numeric, null::date, null::text, null::integer,
        null::jsonb, null::timestamptz,
        'medicine_batches',
        c._key,
        'LOADED',
        c.reason,
        case c.reason
            when 'MISSING_VALUE' then case
                when c.medication_id is null and c.medicine_id is null then jsonb_build_object(
                    'column', 'medication_id', 'rule', 'a batch names no drug (medicine_id and medication_id are NULL)')
                when c.current_quantity is null then jsonb_build_object(
                    'column', 'current_quantity', 'rule', 'a batch without its quantity on hand cannot be opened')
                else jsonb_build_object(
                    'columns', jsonb_build_array('received_date', 'created_at'),
                    'rule', 'a batch without a receipt date has no unit (packs or units) and no opening date') end
            when 'ORPHAN_FK' then jsonb_build_object(
                'column', case when c.medication_id is not null then 'medication_id' else 'medicine_id' end,
                'rule', 'no live item for the drug reference')
            when 'CONFLICTING_REF' then jsonb_build_object(
                'columns', jsonb_build_array('medicine_id', 'medication_id'),
                'rule', 'medicine_id and medication_id resolve to different items')
            when 'OUT_OF_RANGE' then jsonb_build_object(
                'columns', jsonb_build_array('current_quantity', 'received_quantity'),
                'rule', 'a quantity of 10^8 units or more')
        end
    from checked as c
    where c.reason is not null
)

select * from final
