-- compat write path: prescription_dispensing (dispensePrescription's INSERT; UPDATE, DELETE). Called
-- by compat.dispatch() after the dual write into the archive and the kept store.
-- Applies one legacy dispensing row to pharmacy.dispenses with the rules of
-- sql/pharmacy/dispenses.sql (id etl.canonical_id('pharmacy.dispenses', 'prescription_dispensing', key)):
--   rx_line    the legacy line of (prescription_id, medication_id): a live line of the prescription
--              (through provenance) whose legacy medication_id (kept store) is the row's, the first by
--              key; else the one live line of the prescription whose item is the dispense's item;
--              none: NULL (the dispense still loads);
--   item       medication_id through provenance (a MERGED drug -> its survivor's item), else the line's;
--   batch      prescription_dispensing names none: the item's only live batch (the transform also
--              counts the item's legacy batch rows that did not load; the write path sees only the
--              loaded ones); none or several: MISSING_VALUE (column batch_number);
--   qty        quantity_dispensed: NULL MISSING_VALUE, 0 ZERO_QTY, negative or from 10^9 OUT_OF_RANGE;
--   dispensed_at  the row's (NULL: MISSING_VALUE); dispensed_by: a users id -> core.staff through
--              provenance (unresolved: NULL);
--   legacy_attributes: quantity_prescribed, status, notes.
-- A dispense moves no stock here: the sale's stock is the stock_transactions row the client writes
-- with it (as in the transform, where dispenses and the ledger are separate).
-- DELETE soft-deletes the dispense. Raises (the dispatcher quarantines the write) naming table,
-- rule and column, never a value.
create or replace function compat.apply_prescription_dispensing(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_dispense uuid;
    v_rx uuid;
    v_line uuid;
    v_med_item uuid;
    v_item uuid;
    v_n integer;
    v_batch uuid;
    v_qty numeric;
    v_at timestamptz;
    v_staff uuid;
begin
    select m.canonical_id into v_dispense
      from ops.legacy_id_map as m
     where m.legacy_table = 'prescription_dispensing' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.dispenses';

    if p_op = 'DELETE' then
        update pharmacy.dispenses as d set deleted_at = now(), updated_by = 'compat'
         where d.dispense_id = v_dispense and d.deleted_at is null;
        return;
    end if;
    v_dispense := coalesce(v_dispense, etl.canonical_id('pharmacy.dispenses', 'prescription_dispensing', p_key));

    v_qty := (p_new ->> 'quantity_dispensed')::numeric;
    if v_qty is null then
        raise exception 'compat prescription_dispensing: rule MISSING_VALUE, column quantity_dispensed'
            using errcode = 'HM002', column = 'quantity_dispensed';
    elsif v_qty = 0 then
        raise exception 'compat prescription_dispensing: rule ZERO_QTY, column quantity_dispensed'
            using errcode = 'HM002', column = 'quantity_dispensed';
    elsif v_qty < 0 or v_qty >= 1000000000 then
        raise exception 'compat prescription_dispensing: rule OUT_OF_RANGE, column quantity_dispensed'
            using errcode = 'HM002', column = 'quantity_dispensed';
    end if;
    v_at := (p_new ->> 'dispensed_at')::timestamptz;
    if v_at is null then
        raise exception 'compat prescription_dispensing: rule MISSING_VALUE, column dispensed_at'
            using errcode = 'HM002', column = 'dispensed_at';
    end if;

    select i.item_id into v_med_item
      from ops.legacy_id_map as m
      join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
     where m.canonical_table = 'pharmacy.items' and m.legacy_table in ('medications', 'medicines')
       and m.legacy_key = p_new ->> 'medication_id'
     order by m.legacy_table <> 'medications'
     limit 1;

    select p.rx_id into v_rx
      from ops.legacy_id_map as m
      join pharmacy.prescriptions as p on p.rx_id = m.canonical_id and p.deleted_at is null
     where m.canonical_table = 'pharmacy.prescriptions' and m.legacy_table = 'prescriptions'
       and m.legacy_key = p_new ->> 'prescription_id';
    if v_rx is not null then
        select l.rx_line_id into v_line
          from ops.legacy_id_map as m
          join pharmacy.rx_lines as l on l.rx_line_id = m.canonical_id and l.deleted_at is null
          join ops.legacy_kept as k on k.legacy_table = 'prescription_items' and k.legacy_key = m.legacy_key
         where m.canonical_table = 'pharmacy.rx_lines' and m.legacy_table = 'prescription_items'
           and l.rx_id = v_rx and k.attrs ->> 'medication_id' = p_new ->> 'medication_id'
         order by m.legacy_key
         limit 1;
        if v_line is null and v_med_item is not null then
            select count(*), min(l.rx_line_id::text)::uuid into v_n, v_line
              from pharmacy.rx_lines as l
             where l.rx_id = v_rx and l.deleted_at is null and l.item_id = v_med_item;
            if v_n <> 1 then
                v_line := null;
            end if;
        end if;
    end if;
    v_item := coalesce(v_med_item, (select l.item_id from pharmacy.rx_lines as l where l.rx_line_id = v_line));

    select count(*), min(b.batch_id::text)::uuid into v_n, v_batch
      from pharmacy.batches as b
     where b.deleted_at is null and b.item_id = v_item;
    if v_item is null or v_n <> 1 then
        raise exception 'compat prescription_dispensing: rule MISSING_VALUE, column batch_number (no batch named and the item has not exactly one batch)'
            using errcode = 'HM002', column = 'batch_number';
    end if;

    select st.staff_id into v_staff
      from ops.legacy_id_map as m
      join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
     where m.canonical_table = 'core.staff' and m.legacy_table = 'users' and m.legacy_key = p_new ->> 'dispensed_by'
     limit 1;

    insert into pharmacy.dispenses as d (dispense_id, rx_line_id, batch_id, qty, dispensed_at, dispensed_by,
                                         legacy_attributes, created_at, created_by, updated_by)
    values (v_dispense, v_line, v_batch, v_qty, v_at, v_staff,
            jsonb_strip_nulls(jsonb_build_object('quantity_prescribed', p_new -> 'quantity_prescribed',
                                                 'status', p_new -> 'status', 'notes', p_new -> 'notes')),
            v_at, 'compat', 'compat')
    on conflict (dispense_id) do update
       set rx_line_id = excluded.rx_line_id, batch_id = excluded.batch_id, qty = excluded.qty,
           dispensed_at = excluded.dispensed_at, dispensed_by = excluded.dispensed_by,
           legacy_attributes = excluded.legacy_attributes, created_at = excluded.created_at, deleted_at = null,
           updated_by = 'compat';

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('prescription_dispensing', p_key, 'pharmacy.dispenses', v_dispense, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now()
    where m.canonical_id is distinct from excluded.canonical_id or m.disposition <> 'LOADED';
end
$$;

comment on function compat.apply_prescription_dispensing(text, text, jsonb, jsonb) is
    'compat write path of prescription_dispensing: pharmacy.dispenses (line, item, the item''s only batch) and its provenance';
