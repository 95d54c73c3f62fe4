-- compat write path: medicine_batches (receive a batch = INSERT, the client's follow-up
-- `update medicine_batches set current_quantity` and edits = UPDATE, DELETE). Called by
-- compat.dispatch() after the dual write into the archive and the kept store.
-- Applies one legacy batch row with the rules of sql/pharmacy/batches.sql and the balancing rule of
-- sql/pharmacy/inventory_txns.sql:
--   * pharmacy.batches (id etl.canonical_id of the legacy key): the item from medication_id, else
--     medicine_id, through provenance (medications, then medicines; a MERGED drug -> its survivor's
--     live item); neither set: MISSING_VALUE, neither resolves: ORPHAN_FK, both resolve to different
--     items: CONFLICTING_REF. received_on = received_date, else the facility-local day of created_at
--     (neither: MISSING_VALUE). Packs and units (Q9): received before pharmacy.pack_cutover() counts
--     packs, converted with the notes' pack size ('pack of N'; unknown: unit 'pack'); initial_qty =
--     received_quantity in the batch's unit (negative: NULL). current_quantity NULL: MISSING_VALUE;
--     10^8 units or more: OUT_OF_RANGE. INSERT refuses an expiry on or before today (the rule of
--     pharmacy.check_batch_expiry, raised here without the value).
--   * the ledger pharmacy.inventory_txns is immutable, so the quantity on hand is never written: a
--     receipt posts the batch's opening balance ('<id>#opening', GRN, dated at the receipt, legacy
--     table medicine_batches) and an UPDATE compares current_quantity (in the batch's unit) with the
--     batch's ledger sum. Equal (the client re-stating what a stock_transactions sale already
--     posted): nothing is written. Different: one ADJUST '<id>#adjust-<n>' of the difference, dated
--     at the row's new updated_at (else now), as the transform's balancing rows. A position of the
--     batch under another item (the batch's drug changed) is zeroed by an ADJUST.
--   * DELETE soft-deletes the batch and zeroes its stock with an ADJUST (the ledger rows stay).
-- Order matters: a sale inserted AFTER the client already lowered current_quantity is counted twice
-- (the ADJUST, then the sale); the documented client order is the sale first, with the follow-up
-- computed from the quantity read before the sale. An UPDATE that changes the pack size in the notes
-- of a batch received in packs re-reads current_quantity with the new factor (the ledger's earlier
-- rows keep their unit); a change of the batch's drug moves its stock to the new item (ADJUSTs).
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value.

-- Post the ledger rows that make the batch's stock equal p_target (in the batch's unit): per other
-- item position of the batch an ADJUST to zero, then the difference on (p_item, p_batch).
create or replace function compat.pharmacy_balance_batch(p_key text, p_batch uuid, p_item uuid, p_target numeric,
                                                         p_unit text, p_at timestamptz, p_opening_at timestamptz)
returns void
language plpgsql
as $$
declare
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_held numeric;
    v_n integer;
    v_has_stream boolean;
    v_legacy_key text;
    v_txn uuid;
    v_opening boolean;
    r record;
begin
    for r in
        select t.item_id, sum(t.qty) as qty, max(t.unit) as unit
        from pharmacy.inventory_txns as t
        where t.batch_id = p_batch and t.deleted_at is null
          and (p_target is null or t.item_id is distinct from p_item)
        group by t.item_id
        having sum(t.qty) <> 0
        union all
        select p_item, p_target - coalesce((select sum(t.qty) from pharmacy.inventory_txns as t
                                            where t.batch_id = p_batch and t.item_id is not distinct from p_item
                                              and t.deleted_at is null), 0), p_unit
        where p_target is not null
    loop
        continue when r.qty = 0;
        v_has_stream := exists (select 1 from ops.legacy_id_map as m
                                where m.canonical_table = 'pharmacy.inventory_txns' and m.legacy_table = 'medicine_batches'
                                  and m.legacy_key like p_key || '#%');
        v_opening := not v_has_stream and r.item_id is not distinct from p_item and p_target is not null;
        if v_opening then
            v_legacy_key := p_key || '#opening';
        else
            select count(*) into v_n from ops.legacy_id_map as m
             where m.canonical_table = 'pharmacy.inventory_txns' and m.legacy_table = 'medicine_batches'
               and m.legacy_key like p_key || '#adjust-%';
            v_legacy_key := p_key || '#adjust-' || (v_n + 1);
            r.qty := case when r.item_id is not distinct from p_item then r.qty else -r.qty end;
        end if;
        v_txn := etl.canonical_id('pharmacy.inventory_txns', 'medicine_batches', v_legacy_key);
        insert into pharmacy.inventory_txns (txn_id, item_id, batch_id, facility_id, txn_type, qty, unit,
                                             occurred_at, created_by, updated_by)
        values (v_txn, r.item_id, p_batch, v_facility,
                case when v_opening and r.qty > 0 then 'GRN' else 'ADJUST' end,
                r.qty, coalesce(r.unit, p_unit),
                case when v_opening then coalesce(p_opening_at, p_at, now()) else coalesce(p_at, now()) end,
                'compat', 'compat');
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
        values ('medicine_batches', v_legacy_key, 'pharmacy.inventory_txns', v_txn, 'LOADED', 'compat')
        on conflict (legacy_table, legacy_key, canonical_table)
        do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
    end loop;
end
$$;

comment on function compat.pharmacy_balance_batch(text, uuid, uuid, numeric, text, timestamptz, timestamptz) is
    'compat: post the opening balance / ADJUST rows that make a batch''s ledger stock equal the legacy quantity on hand (p_target NULL: zero it)';

create or replace function compat.apply_medicine_batches(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    v_tz text;
    v_batch uuid := etl.canonical_id('pharmacy.batches', 'medicine_batches', p_key);
    v_existing uuid;
    v_medication text := p_new ->> 'medication_id';
    v_medicine text := p_new ->> 'medicine_id';
    v_medication_item uuid;
    v_medicine_item uuid;
    v_item uuid;
    v_created timestamptz;
    v_received_on date;
    v_in_packs boolean;
    v_pack_size integer;
    v_unit text;
    v_factor numeric;
    v_current numeric;
    v_received numeric;
    v_expiry date;
    v_at timestamptz;
    v_attrs jsonb;
begin
    select m.canonical_id into v_existing
      from ops.legacy_id_map as m
     where m.legacy_table = 'medicine_batches' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.batches';
    v_batch := coalesce(v_existing, v_batch);

    if p_op = 'DELETE' then
        if v_existing is null then
            return;
        end if;
        update pharmacy.batches as b set deleted_at = now(), updated_by = 'compat'
         where b.batch_id = v_batch and b.deleted_at is null;
        perform compat.pharmacy_balance_batch(p_key, v_batch, null, null, null, now(), null);
        return;
    end if;

    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
    v_tz := coalesce(v_tz, 'Asia/Kolkata');

    -- the item (Q5: either drug id; both must agree)
    if v_medication is null and v_medicine is null then
        raise exception 'compat medicine_batches: rule MISSING_VALUE, column medication_id (a batch names no drug)'
            using errcode = 'HM002', column = 'medication_id';
    end if;
    select i.item_id into v_medication_item
      from ops.legacy_id_map as m
      join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
     where m.canonical_table = 'pharmacy.items' and m.legacy_table = 'medications' and m.legacy_key = v_medication;
    select i.item_id into v_medicine_item
      from ops.legacy_id_map as m
      join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
     where m.canonical_table = 'pharmacy.items' and m.legacy_table in ('medications', 'medicines')
       and m.legacy_key = v_medicine
     order by m.legacy_table <> 'medications'
     limit 1;
    v_item := coalesce(v_medication_item, v_medicine_item);
    if v_item is null then
        raise exception 'compat medicine_batches: rule ORPHAN_FK, column % (no live item for the drug reference)',
                case when v_medication is not null then 'medication_id' else 'medicine_id' end
            using errcode = 'HM002', column = case when v_medication is not null then 'medication_id' else 'medicine_id' end;
    end if;
    if v_medication_item <> v_medicine_item then
        raise exception 'compat medicine_batches: rule CONFLICTING_REF, columns medicine_id, medication_id (different items)'
            using errcode = 'HM002', column = 'medicine_id';
    end if;

    -- quantities and units
    v_created := coalesce((p_new ->> 'created_at')::timestamptz, now());
    v_received_on := coalesce((p_new ->> 'received_date')::date, etl.local_date(v_created, v_tz));
    if p_new ->> 'current_quantity' is null then
        raise exception 'compat medicine_batches: rule MISSING_VALUE, column current_quantity'
            using errcode = 'HM002', column = 'current_quantity';
    end if;
    v_in_packs := v_received_on < pharmacy.pack_cutover();
    v_pack_size := pharmacy.pack_size_of(p_new ->> 'notes');
    v_unit := case when v_in_packs and v_pack_size is null then 'pack' else 'unit' end;
    v_factor := case when v_in_packs then coalesce(v_pack_size, 1) else 1 end;
    v_current := (p_new ->> 'current_quantity')::numeric * v_factor;
    v_received := case when (p_new ->> 'received_quantity')::numeric >= 0
                       then (p_new ->> 'received_quantity')::numeric * v_factor end;
    if abs(v_current) >= 1e8 or abs(coalesce(v_received, 0)) >= 1e8 then
        raise exception 'compat medicine_batches: rule OUT_OF_RANGE, columns current_quantity, received_quantity (10^8 units or more)'
            using errcode = 'HM002', column = 'current_quantity';
    end if;
    v_expiry := (p_new ->> 'expiry_date')::date;
    if v_existing is null and v_expiry is not null and v_expiry <= current_date then
        raise exception 'compat medicine_batches: rule expiry > current_date on insert, column expiry_date'
            using errcode = 'check_violation', column = 'expiry_date', constraint = 'batches_expiry_after_today';
    end if;

    v_attrs := (p_new - array['id', 'medicine_id', 'medication_id', 'batch_number', 'expiry_date', 'received_date',
                              'quantity', 'created_at', 'updated_at'])
        || jsonb_build_object('quantity_unit', case when v_in_packs then 'pack' else 'unit' end);
    if v_existing is null then
        insert into pharmacy.batches (batch_id, item_id, batch_no, expiry, initial_qty, received_on, unit, pack_size,
                                      legacy_attributes, created_at, created_by, updated_by)
        values (v_batch, v_item, pharmacy.clean_text(p_new ->> 'batch_number'), v_expiry, v_received, v_received_on,
                v_unit, v_pack_size, v_attrs, v_created, 'compat', 'compat');
    else
        -- an UPDATE (never an upsert: the expiry rule is an INSERT trigger, an old batch may be expired)
        update pharmacy.batches as b
           set item_id = v_item, batch_no = pharmacy.clean_text(p_new ->> 'batch_number'), expiry = v_expiry,
               initial_qty = v_received, received_on = v_received_on, unit = v_unit, pack_size = v_pack_size,
               legacy_attributes = v_attrs, created_at = v_created, deleted_at = null, updated_by = 'compat'
         where b.batch_id = v_batch
           and (b.item_id, b.batch_no, b.expiry, b.initial_qty, b.received_on, b.unit, b.pack_size, b.legacy_attributes,
                b.created_at, b.deleted_at)
               is distinct from
               (v_item, pharmacy.clean_text(p_new ->> 'batch_number'), v_expiry, v_received, v_received_on, v_unit,
                v_pack_size, v_attrs, v_created, null::timestamptz);
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('medicine_batches', p_key, 'pharmacy.batches', v_batch, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now()
    where m.canonical_id is distinct from excluded.canonical_id or m.disposition <> 'LOADED';

    -- the quantity on hand: the ledger is balanced to it (nothing when it already agrees)
    v_at := case when p_old is not null and (p_new ->> 'updated_at') is not distinct from (p_old ->> 'updated_at')
                 then now() else coalesce((p_new ->> 'updated_at')::timestamptz, now()) end;
    perform compat.pharmacy_balance_batch(p_key, v_batch, v_item, v_current, v_unit, v_at,
                                          etl.local_wall_clock(v_received_on, time '00:00', v_tz));
end
$$;

comment on function compat.apply_medicine_batches(text, text, jsonb, jsonb) is
    'compat write path of medicine_batches: pharmacy.batches + its provenance; the quantity on hand as ledger rows (opening balance, ADJUST) only where it differs from the ledger';
