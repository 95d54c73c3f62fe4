-- compat write path: stock_transactions (a sale, purchase, return, adjustment = INSERT; UPDATE;
-- DELETE). Called by compat.dispatch() after the dual write into the archive and the kept store.
-- Applies one legacy ledger row with the rules of sql/pharmacy/inventory_txns.sql:
--   type       map:stock_transactions.transaction_type / .direction of etl.norm_key(transaction_type);
--              NULL: MISSING_VALUE, unlisted: UNMAPPED_VALUE;
--   item       medication_id through provenance (medications, then medicines; a MERGED drug -> its
--              survivor's live item); NULL: MISSING_VALUE, none: ORPHAN_FK;
--   batch      the item's live loaded batch with that batch number (case and blanks ignored; two:
--              the one whose legacy row names the same drug id, then the lowest legacy key); a number
--              matching none: UNKNOWN_BATCH; no number: a movement without a batch;
--   qty        signed by the direction ('in' > 0, 'out' < 0, 'either' as written), in units: a
--              'purchase' dated before pharmacy.pack_cutover() counts packs (times the batch's pack
--              size; unknown: unit 'pack'); NULL: MISSING_VALUE, 0: ZERO_QTY, 10^8 units or more:
--              OUT_OF_RANGE;
--   occurred   transaction_date, else created_at (neither: MISSING_VALUE);
--   reference  another loaded ledger row (reference_id; itself: none) or a department ('Department
--              Issue: <name>', one core.departments row of that name);
--   legacy_attributes: the row less id, medication_id, transaction_date; a 0 total that quantity x
--              unit price contradicts is recomputed there (total_recomputed).
-- The ledger is immutable: INSERT adds the movement (id etl.canonical_id of the legacy key); an
-- UPDATE whose movement differs (item, batch, signed quantity, unit) adds per position one correcting
-- ADJUST '<id>#correction-<n>' of the difference (nothing when only notes or prices change); DELETE
-- adds the ADJUSTs that reverse it and removes the row's provenance (the ledger row itself cannot be
-- soft-deleted: its movement is reversed instead, and the view no longer shows it).
-- The batch's quantity on hand follows from the ledger: the client's follow-up `update
-- medicine_batches set current_quantity` that agrees with it writes nothing (compat.apply_medicine_batches).
-- A purchase row (GRN) of exactly the quantity a batch received through this layer was opened with,
-- while that opening is the batch's only other ledger row, is the same receipt seen twice (the
-- purchase trigger inserts the batch with its quantity and the purchase row): the movement is posted
-- and one ADJUST '<batch id>#adjust-<n>' (ref -> the movement) takes it back out, as the transform's
-- opening balance (on hand less movements) would.
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value; an
-- UPDATE that no longer loads is quarantined and leaves the ledger as it was.
create or replace function compat.apply_stock_transactions(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_tz text;
    v_txn uuid := etl.canonical_id('pharmacy.inventory_txns', 'stock_transactions', p_key);
    v_stored boolean;
    v_type_key text;
    v_txn_type text;
    v_direction text;
    v_medication text;
    v_item uuid;
    v_batch_key text;
    v_batch uuid;
    v_pack_size integer;
    v_quantity numeric;
    v_occurred timestamptz;
    v_in_packs boolean;
    v_units numeric;
    v_unit text;
    v_qty numeric;
    v_ref_table text;
    v_ref_id uuid;
    v_dept_key text;
    v_total numeric;
    v_price numeric;
    v_attrs jsonb;
    v_n integer;
    v_legacy_key text;
    v_corr uuid;
    r record;
begin
    v_stored := exists (select 1 from ops.legacy_id_map as m
                        where m.legacy_table = 'stock_transactions' and m.legacy_key = p_key
                          and m.canonical_table = 'pharmacy.inventory_txns');

    if p_op <> 'DELETE' then
        select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
        v_tz := coalesce(v_tz, 'Asia/Kolkata');

        -- type and direction
        v_type_key := etl.norm_key(p_new ->> 'transaction_type');
        if v_type_key is null then
            raise exception 'compat stock_transactions: rule MISSING_VALUE, column transaction_type (a movement without a type has no sign)'
                using errcode = 'HM002', column = 'transaction_type';
        end if;
        select c.display into v_txn_type from ref.codes as c
         where c.system = 'map:stock_transactions.transaction_type' and c.code = v_type_key;
        select c.display into v_direction from ref.codes as c
         where c.system = 'map:stock_transactions.direction' and c.code = v_type_key;
        if v_txn_type is null or v_direction is null then
            raise exception 'compat stock_transactions: rule UNMAPPED_VALUE, column transaction_type (not in map:stock_transactions.transaction_type/direction)'
                using errcode = 'HM002', column = 'transaction_type';
        end if;

        -- item
        v_medication := p_new ->> 'medication_id';
        if v_medication is null then
            raise exception 'compat stock_transactions: rule MISSING_VALUE, column medication_id'
                using errcode = 'HM002', column = 'medication_id';
        end if;
        select i.item_id into v_item
          from ops.legacy_id_map as m
          join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
         where m.canonical_table = 'pharmacy.items' and m.legacy_table in ('medications', 'medicines')
           and m.legacy_key = v_medication
         order by m.legacy_table <> 'medications'
         limit 1;
        if v_item is null then
            raise exception 'compat stock_transactions: rule ORPHAN_FK, column medication_id (no live item for the drug reference)'
                using errcode = 'HM002', column = 'medication_id';
        end if;

        -- batch (the item's live loaded batches with that number)
        v_batch_key := upper(replace(pharmacy.clean_text(p_new ->> 'batch_number'), ' ', ''));
        if v_batch_key is not null then
            select b.batch_id, b.pack_size into v_batch, v_pack_size
              from pharmacy.batches as b
              join ops.legacy_id_map as m
                on m.canonical_id = b.batch_id and m.canonical_table = 'pharmacy.batches'
               and m.legacy_table = 'medicine_batches' and m.disposition = 'LOADED'
              left join ops.legacy_kept as k on k.legacy_table = 'medicine_batches' and k.legacy_key = m.legacy_key
             where b.deleted_at is null and b.item_id = v_item and upper(replace(b.batch_no, ' ', '')) = v_batch_key
             order by coalesce(k.attrs ->> 'medication_id', k.attrs ->> 'medicine_id') = v_medication desc nulls last,
                      m.legacy_key
             limit 1;
            if v_batch is null then
                raise exception 'compat stock_transactions: rule UNKNOWN_BATCH, column batch_number (no loaded batch of the item has this batch number)'
                    using errcode = 'HM002', column = 'batch_number';
            end if;
        end if;

        -- quantity, sign, unit
        v_quantity := (p_new ->> 'quantity')::numeric;
        if v_quantity is null then
            raise exception 'compat stock_transactions: rule MISSING_VALUE, column quantity'
                using errcode = 'HM002', column = 'quantity';
        elsif v_quantity = 0 then
            raise exception 'compat stock_transactions: rule ZERO_QTY, column quantity (a movement of quantity 0)'
                using errcode = 'HM002', column = 'quantity';
        end if;
        v_occurred := coalesce((p_new ->> 'transaction_date')::timestamptz, (p_new ->> 'created_at')::timestamptz);
        if v_occurred is null then
            raise exception 'compat stock_transactions: rule MISSING_VALUE, columns transaction_date, created_at (a movement without a date)'
                using errcode = 'HM002', column = 'transaction_date';
        end if;
        v_in_packs := v_type_key = 'purchase' and etl.local_date(v_occurred, v_tz) < pharmacy.pack_cutover();
        v_units := abs(v_quantity) * case when v_in_packs then coalesce(v_pack_size, 1) else 1 end;
        if v_units >= 1e8 then
            raise exception 'compat stock_transactions: rule OUT_OF_RANGE, column quantity (10^8 units or more)'
                using errcode = 'HM002', column = 'quantity';
        end if;
        v_unit := case when v_in_packs and v_pack_size is null then 'pack' else 'unit' end;
        v_qty := case v_direction when 'in' then v_units when 'out' then -v_units else sign(v_quantity) * v_units end;

        -- reference: another loaded ledger row, else a department issue
        if p_new ->> 'reference_id' is not null and p_new ->> 'reference_id' <> p_key then
            select m.canonical_id into v_ref_id
              from ops.legacy_id_map as m
             where m.canonical_table = 'pharmacy.inventory_txns'
               and m.legacy_table in ('stock_transactions', 'pharmacy_stock_transactions')
               and m.legacy_key = p_new ->> 'reference_id'
             order by m.legacy_table <> 'stock_transactions'
             limit 1;
            v_ref_table := case when v_ref_id is not null then 'pharmacy.inventory_txns' end;
        end if;
        if v_ref_id is null and p_new ->> 'notes' ~* '^\s*department issue\s*:' then
            v_dept_key := etl.norm_key(regexp_replace(p_new ->> 'notes', '^\s*[^:]*:', ''));
            select min(d.department_id::text)::uuid into v_ref_id
              from core.departments as d
             where d.deleted_at is null and etl.norm_key(d.name) = v_dept_key
            having count(*) = 1;
            v_ref_table := case when v_ref_id is not null then 'core.departments' end;
        end if;

        v_total := (p_new ->> 'total_amount')::numeric;
        v_price := (p_new ->> 'unit_price')::numeric;
        v_attrs := (p_new - array['id', 'medication_id', 'transaction_date'])
            || jsonb_strip_nulls(jsonb_build_object(
                'total_amount', case when v_total = 0 and v_price > 0 then round(abs(v_quantity) * v_price, 2) end,
                'total_recomputed', case when v_total = 0 and v_price > 0 then true end));
    end if;

    if not v_stored then
        if p_op = 'DELETE' then
            return;
        end if;
        -- a first movement
        insert into pharmacy.inventory_txns (txn_id, item_id, batch_id, facility_id, txn_type, qty, unit, ref_table,
                                             ref_id, occurred_at, legacy_attributes, created_at, created_by, updated_by)
        values (v_txn, v_item, v_batch, v_facility, v_txn_type, v_qty, v_unit, v_ref_table, v_ref_id, v_occurred,
                v_attrs, coalesce((p_new ->> 'created_at')::timestamptz, now()), 'compat', 'compat');
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
        values ('stock_transactions', p_key, 'pharmacy.inventory_txns', v_txn, 'LOADED', 'compat')
        on conflict (legacy_table, legacy_key, canonical_table)
        do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();

        -- the receipt seen twice: a batch received through this layer (its ledger is only the
        -- opening balance it posted) and then its purchase row of the same quantity. The transform
        -- would open the batch at 0 (on hand less the movements); here the opening is immutable, so
        -- one ADJUST on the batch's stream takes the purchase back out of the stock.
        if v_batch is not null and v_txn_type = 'GRN' and v_qty > 0 then
            select m.legacy_key into v_legacy_key
              from pharmacy.inventory_txns as t
              join ops.legacy_id_map as m
                on m.canonical_id = t.txn_id and m.canonical_table = 'pharmacy.inventory_txns'
               and m.legacy_table = 'medicine_batches' and m.legacy_key like '%#opening'
             where t.batch_id = v_batch and t.deleted_at is null and t.created_by = 'compat'
               and t.txn_type = 'GRN' and t.qty = v_qty and t.unit = v_unit
               and (select count(*) from pharmacy.inventory_txns as a where a.batch_id = v_batch and a.deleted_at is null) = 2;
            if v_legacy_key is not null then
                v_legacy_key := split_part(v_legacy_key, '#', 1);
                select count(*) into v_n from ops.legacy_id_map as m
                 where m.canonical_table = 'pharmacy.inventory_txns' and m.legacy_table = 'medicine_batches'
                   and m.legacy_key like v_legacy_key || '#adjust-%';
                v_legacy_key := v_legacy_key || '#adjust-' || (v_n + 1);
                v_corr := etl.canonical_id('pharmacy.inventory_txns', 'medicine_batches', v_legacy_key);
                insert into pharmacy.inventory_txns (txn_id, item_id, batch_id, facility_id, txn_type, qty, unit,
                                                     ref_table, ref_id, occurred_at, created_by, updated_by)
                values (v_corr, v_item, v_batch, v_facility, 'ADJUST', -v_qty, v_unit, 'pharmacy.inventory_txns', v_txn,
                        v_occurred, 'compat', 'compat');
                insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
                values ('medicine_batches', v_legacy_key, 'pharmacy.inventory_txns', v_corr, 'LOADED', 'compat')
                on conflict (legacy_table, legacy_key, canonical_table)
                do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
            end if;
        end if;
        return;
    end if;

    -- already in the ledger: correct the difference per position (item, batch), never edit
    select count(*) into v_n from ops.legacy_id_map as m
     where m.canonical_table = 'pharmacy.inventory_txns' and m.legacy_table = 'stock_transactions'
       and m.legacy_key like p_key || '#correction-%';
    for r in
        select x.item_id, x.batch_id, sum(x.qty) as qty, max(x.unit) as unit
        from (
            select v_item as item_id, v_batch as batch_id, v_qty as qty, v_unit as unit
            where p_op <> 'DELETE'
            union all
            select t.item_id, t.batch_id, -t.qty, t.unit
            from ops.legacy_id_map as m
            join pharmacy.inventory_txns as t on t.txn_id = m.canonical_id and t.deleted_at is null
            where m.canonical_table = 'pharmacy.inventory_txns' and m.legacy_table = 'stock_transactions'
              and (m.legacy_key = p_key or m.legacy_key like p_key || '#correction-%')
        ) as x
        group by x.item_id, x.batch_id
        order by 1, 2 nulls first
    loop
        continue when r.qty = 0;
        v_n := v_n + 1;
        v_legacy_key := p_key || '#correction-' || v_n;
        v_corr := etl.canonical_id('pharmacy.inventory_txns', 'stock_transactions', v_legacy_key);
        insert into pharmacy.inventory_txns (txn_id, item_id, batch_id, facility_id, txn_type, qty, unit, ref_table,
                                             ref_id, occurred_at, created_by, updated_by)
        values (v_corr, r.item_id, r.batch_id, v_facility, 'ADJUST', r.qty, r.unit, 'pharmacy.inventory_txns', v_txn,
                coalesce(v_occurred, now()), 'compat', 'compat');
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
        values ('stock_transactions', v_legacy_key, 'pharmacy.inventory_txns', v_corr, 'LOADED', 'compat')
        on conflict (legacy_table, legacy_key, canonical_table)
        do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
    end loop;

    if p_op = 'DELETE' then
        -- the movement is reversed above; the legacy row leaves the view
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'stock_transactions' and m.legacy_key = p_key
           and m.canonical_table = 'pharmacy.inventory_txns';
    end if;
end
$$;

comment on function compat.apply_stock_transactions(text, text, jsonb, jsonb) is
    'compat write path of stock_transactions: a new ledger movement, or correcting ADJUST rows (the ledger is immutable)';
