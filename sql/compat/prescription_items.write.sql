-- compat write path: prescription_items (INSERT; UPDATE: dispensing counters, billing flags, edits;
-- DELETE). Called by compat.dispatch() after the dual write into the archive and the kept store.
-- Applies one legacy line to pharmacy.rx_lines with the rules of sql/pharmacy/rx_lines.sql (id
-- etl.canonical_id of the legacy key):
--   rx_id      prescription_id -> a live pharmacy.prescriptions row through provenance; none:
--              ORPHAN_FK (column prescription_id);
--   item       medication_id through provenance (medications, then medicines; a MERGED drug -> its
--              survivor's live item), else medication_name matched by pharmacy.match_name against
--              the live items' names: exactly one -> that item; else NULL (the line still loads);
--   dose, frequency, duration  pharmacy.clean_text; instructions split by etl.labelled_parts: a
--              'Frequency: x' part fills an empty frequency and is dropped from the instructions
--              when it repeats the frequency (the other parts rejoined with ' | ');
--   qty        quantity when 0 < quantity < 10^9, else NULL; status map:prescription_items.status
--              (unknown: NULL); legacy_attributes as the transform (prices, dispensing counters,
--              billing acknowledgements, medication_name, status as written).
-- The line's own dispensing counters (dispensed_quantity, ...) name no batch: no dispense and no
-- stock movement is built from them (a sale's stock is stock_transactions').
-- DELETE soft-deletes the line (its provenance stays: the view hides soft-deleted rows).
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value.
create or replace function compat.apply_prescription_items(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_line uuid;
    v_rx uuid;
    v_rx_created timestamptz;
    v_item uuid;
    v_n integer;
    v_name_key text;
    v_frequency_column text;
    v_frequency_part text;
    v_frequency text;
    v_kept text;
    v_moved integer;
    v_quantity numeric;
    v_status text;
begin
    select m.canonical_id into v_line
      from ops.legacy_id_map as m
     where m.legacy_table = 'prescription_items' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.rx_lines';

    if p_op = 'DELETE' then
        update pharmacy.rx_lines as l set deleted_at = now(), updated_by = 'compat'
         where l.rx_line_id = v_line and l.deleted_at is null;
        return;
    end if;
    v_line := coalesce(v_line, etl.canonical_id('pharmacy.rx_lines', 'prescription_items', p_key));

    select p.rx_id, p.created_at into v_rx, v_rx_created
      from ops.legacy_id_map as m
      join pharmacy.prescriptions as p on p.rx_id = m.canonical_id and p.deleted_at is null
     where m.canonical_table = 'pharmacy.prescriptions' and m.legacy_table = 'prescriptions'
       and m.legacy_key = p_new ->> 'prescription_id';
    if v_rx is null then
        raise exception 'compat prescription_items: rule ORPHAN_FK, column prescription_id (prescription not in pharmacy.prescriptions)'
            using errcode = 'HM002', column = 'prescription_id';
    end if;

    select i.item_id into v_item
      from ops.legacy_id_map as m
      join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
     where m.canonical_table = 'pharmacy.items' and m.legacy_table in ('medications', 'medicines')
       and m.legacy_key = p_new ->> 'medication_id'
     order by m.legacy_table <> 'medications'
     limit 1;
    if v_item is null then
        v_name_key := pharmacy.match_name(p_new ->> 'medication_name');
        select count(distinct i.item_id), min(i.item_id::text)::uuid into v_n, v_item
          from pharmacy.items as i
         where i.deleted_at is null and v_name_key is not null and pharmacy.match_name(i.name) = v_name_key;
        if v_n <> 1 then
            v_item := null;
        end if;
    end if;

    -- instructions: the 'Frequency:' part moves to frequency where it fills or repeats the column
    v_frequency_column := pharmacy.clean_text(p_new ->> 'frequency');
    select (array_agg(p.value order by p.n))[1] into v_frequency_part
      from etl.labelled_parts(p_new ->> 'instructions') as p
     where p.label = 'frequency';
    v_frequency := coalesce(v_frequency_column, v_frequency_part);
    select string_agg(p.part, ' | ' order by p.n) filter (where not p.moves), count(*) filter (where p.moves)
      into v_kept, v_moved
      from (select q.n, q.part,
                   coalesce(q.label = 'frequency' and etl.norm_key(q.value) = etl.norm_key(v_frequency), false) as moves
            from etl.labelled_parts(p_new ->> 'instructions') as q) as p;

    v_quantity := (p_new ->> 'quantity')::numeric;
    select c.display into v_status from ref.codes as c
     where c.system = 'map:prescription_items.status' and c.code = etl.norm_key(p_new ->> 'status');

    insert into pharmacy.rx_lines as l (rx_line_id, rx_id, item_id, dose, frequency, duration, route, instructions, qty,
                                        status, legacy_attributes, created_at, created_by, updated_by)
    values (v_line, v_rx, v_item, pharmacy.clean_text(p_new ->> 'dosage'), v_frequency,
            pharmacy.clean_text(p_new ->> 'duration'), null,
            case when coalesce(v_moved, 0) > 0 then pharmacy.clean_text(v_kept)
                 else pharmacy.clean_text(p_new ->> 'instructions') end,
            case when v_quantity > 0 and v_quantity < 1000000000 then v_quantity end,
            v_status,
            jsonb_strip_nulls(jsonb_build_object(
                'medication_name', p_new -> 'medication_name', 'status', p_new -> 'status',
                'unit_price', p_new -> 'unit_price', 'total_price', p_new -> 'total_price',
                'dispensed_quantity', p_new -> 'dispensed_quantity', 'remaining_quantity', p_new -> 'remaining_quantity',
                'dispensed_date', p_new -> 'dispensed_date', 'dispensed_by', p_new -> 'dispensed_by',
                'billing_acknowledged', p_new -> 'billing_acknowledged',
                'billing_acknowledged_by', p_new -> 'billing_acknowledged_by',
                'billing_acknowledged_at', p_new -> 'billing_acknowledged_at', 'billing_edited', p_new -> 'billing_edited',
                'billing_last_edited_by', p_new -> 'billing_last_edited_by',
                'billing_last_edited_at', p_new -> 'billing_last_edited_at')),
            coalesce((p_new ->> 'created_at')::timestamptz, v_rx_created, now()), 'compat', 'compat')
    on conflict (rx_line_id) do update
       set rx_id = excluded.rx_id, item_id = excluded.item_id, dose = excluded.dose, frequency = excluded.frequency,
           duration = excluded.duration, instructions = excluded.instructions, qty = excluded.qty,
           status = excluded.status, legacy_attributes = excluded.legacy_attributes, created_at = excluded.created_at,
           deleted_at = null, updated_by = 'compat';

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('prescription_items', p_key, 'pharmacy.rx_lines', v_line, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now()
    where m.canonical_id is distinct from excluded.canonical_id or m.disposition <> 'LOADED';
end
$$;

comment on function compat.apply_prescription_items(text, text, jsonb, jsonb) is
    'compat write path of prescription_items: pharmacy.rx_lines (prescription and item through provenance) and its provenance';
