-- compat write path: medications (a new drug = INSERT; edits, the stock counters = UPDATE; DELETE).
-- Called by compat.dispatch() after the dual write into the archive and the kept store (every
-- column the item cannot give back per legacy row is kept there, see sql/compat/medications.sql).
-- Applies one legacy drug row to pharmacy.items with the normalization of sql/pharmacy/items.sql:
-- name pharmacy.clean_text (required: MISSING_VALUE), code pharmacy.norm_code, strength of the
-- strength column (empty: of the name; a bare number: none), form by map:medications.dosage_form
-- (empty: the one form word of the name), manufacturer by map:medications.manufacturer, is_active
-- false when status maps to false or is_active is false, gst_rate of gst_percent (0..100), is_external
-- (is_external, category External, manufacturer External Pharmacy); legacy_attributes = the row less
-- the mapped columns, with legacy_codes.
--   * UPDATE of the survivor (LOADED): the item takes the values the write changed (old and new row
--     normalized by compat.pharmacy_item_values; the others stay the group's, which a merged member
--     may have given), its code too when no other item holds the new one (the old code joins
--     legacy_codes), and the row's legacy_attributes. UPDATE of a MERGED duplicate: only
--     its code joins the survivor's legacy_codes (the kept store has the row's own values).
--     The stock counters (stock_quantity, total_stock, available_stock) are kept values only: the
--     stock itself is the ledger's (pharmacy.inventory_txns), so `update medications set
--     available_stock, total_stock` after a sale writes no stock movement (no double count).
--   * INSERT (or a row without provenance): matched as the transform matches, against the live
--     items: the same code (pharmacy.item_for_code) with no contradicting strength, form or
--     manufacturer, else exactly one item of the same pharmacy.match_name whose known strength,
--     form and manufacturer do not contradict the row's -> MERGED into it (the existing survivor
--     stays: a later backfill may pick another survivor by its ranking); else a new item, id
--     etl.canonical_id('pharmacy.items', 'medications', key), its code unless another item holds it
--     (then 'MIG-' + 24 hex of the key, as CODE_ASSIGNED).
--   * DELETE: a MERGED duplicate leaves the map; the survivor hands LOADED to the next member of its
--     group (medications before medicines, then by key) and leaves the map; a survivor alone
--     soft-deletes its item.
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value.
-- A legacy drug row (jsonb) normalized as sql/pharmacy/items.sql normalizes it: the item's columns.
create or replace function compat.pharmacy_item_values(p jsonb)
returns jsonb
language plpgsql
stable
as $$
declare
    v_name_key text := pharmacy.match_name(p ->> 'name');
    v_strength_text text := pharmacy.clean_text(p ->> 'strength');
    v_form_text text := pharmacy.clean_text(p ->> 'dosage_form');
    v_form text;
    v_manufacturer_text text := pharmacy.clean_text(p ->> 'manufacturer');
    v_mm record;
    v_manufacturer text;
    v_status text;
    v_gst_text text := pharmacy.clean_text(p ->> 'gst_percent');
begin
    if p is null then
        return null;
    end if;
    if v_form_text is not null then
        select c.display into v_form from ref.codes as c
         where c.system = 'map:medications.dosage_form' and c.code = lower(v_form_text);
    else
        select case when count(distinct f.display) = 1 then min(f.display) end into v_form
          from regexp_split_to_table(v_name_key, '[^[:alnum:]]+') as w (word)
          join ref.codes as f on f.system = 'map:medications.dosage_form' and f.code = w.word;
    end if;
    select c.code, c.display into v_mm from ref.codes as c
     where c.system = 'map:medications.manufacturer' and c.code = lower(v_manufacturer_text);
    v_manufacturer := case when v_mm.code is not null then nullif(v_mm.display, '') else v_manufacturer_text end;
    select c.display into v_status from ref.codes as c
     where c.system = 'map:medications.status' and c.code = lower(pharmacy.clean_text(p ->> 'status'));
    return jsonb_build_object(
        'name', pharmacy.clean_text(p ->> 'name'),
        'name_key', v_name_key,
        'code', pharmacy.norm_code(p ->> 'medication_code'),
        'strength', coalesce(pharmacy.strength_of(p ->> 'strength'),
                             case when v_strength_text is null then pharmacy.strength_of(p ->> 'name') end),
        'form', v_form,
        'manufacturer', v_manufacturer,
        'generic_name', pharmacy.clean_text(p ->> 'generic_name'),
        'hsn_code', pharmacy.clean_text(p ->> 'hsn_code'),
        'gst_rate', case when v_gst_text ~ '^[0-9]{1,3}(\.[0-9]{1,6})?$' and v_gst_text::numeric <= 100
                         then round(v_gst_text::numeric, 2) end,
        'is_active', not (coalesce(v_status = 'false', false) or coalesce(p ->> 'is_active' = 'false', false)),
        'is_external', coalesce(p ->> 'is_external' = 'true', false)
            or coalesce(lower(pharmacy.clean_text(p ->> 'category')) = 'external', false)
            or coalesce(lower(v_manufacturer) = 'external pharmacy', false));
end
$$;

create or replace function compat.apply_medications(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_item uuid;
    v_disp text;
    v_next record;
    v_name text;
    v_name_key text;
    v_code text;
    v_strength text;
    v_form text;
    v_manufacturer text;
    v_inactive boolean;
    v_gst numeric;
    v_external boolean;
    v_attrs jsonb;
    v_match uuid;
    v_n integer;
    v_cur record;
    v_new_code text;
    v_codes jsonb;
    v_v jsonb;
    v_old jsonb;
begin
    select m.canonical_id, m.disposition into v_item, v_disp
      from ops.legacy_id_map as m
     where m.legacy_table = 'medications' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.items';

    if p_op = 'DELETE' then
        if v_item is null then
            return;
        end if;
        if v_disp = 'LOADED' then
            select m.legacy_table, m.legacy_key into v_next
              from ops.legacy_id_map as m
             where m.canonical_table = 'pharmacy.items' and m.canonical_id = v_item
               and m.legacy_table in ('medications', 'medicines') and not (m.legacy_table = 'medications' and m.legacy_key = p_key)
             order by m.legacy_table <> 'medications', m.legacy_key
             limit 1;
            if v_next.legacy_key is null then
                update pharmacy.items as i set deleted_at = now(), updated_by = 'compat'
                 where i.item_id = v_item and i.deleted_at is null;
                return;
            end if;
            update ops.legacy_id_map as m set disposition = 'LOADED', run_id = 'compat', mapped_at = now()
             where m.canonical_table = 'pharmacy.items' and m.legacy_table = v_next.legacy_table
               and m.legacy_key = v_next.legacy_key;
        end if;
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'medications' and m.legacy_key = p_key and m.canonical_table = 'pharmacy.items';
        return;
    end if;

    -- === the row, normalized as sql/pharmacy/items.sql ==========================================
    v_v := compat.pharmacy_item_values(p_new);
    v_old := compat.pharmacy_item_values(p_old);
    v_name := v_v ->> 'name';
    if v_name is null then
        raise exception 'compat medications: rule MISSING_VALUE, column name (a drug master row without a name cannot be an item)'
            using errcode = 'HM002', column = 'name';
    end if;
    v_name_key := v_v ->> 'name_key';
    v_code := v_v ->> 'code';
    v_strength := v_v ->> 'strength';
    v_form := v_v ->> 'form';
    v_manufacturer := v_v ->> 'manufacturer';
    v_inactive := not (v_v ->> 'is_active')::boolean;
    v_gst := (v_v ->> 'gst_rate')::numeric;
    v_external := (v_v ->> 'is_external')::boolean;
    v_attrs := p_new - array['id', 'medication_code', 'name', 'generic_name', 'hsn_code', 'gst_percent', 'is_external',
                             'created_at', 'updated_at'];

    if v_item is not null and v_disp = 'MERGED' then
        -- a duplicate: its code stays findable through the survivor (pharmacy.item_for_code)
        if v_code is not null then
            update pharmacy.items as i
               set legacy_attributes = jsonb_set(coalesce(i.legacy_attributes, '{}'::jsonb), '{legacy_codes}',
                       coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) || to_jsonb(v_code)),
                   updated_by = 'compat'
             where i.item_id = v_item and i.code is distinct from v_code
               and not coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) ? v_code;
        end if;
        return;
    end if;

    if v_item is not null then
        -- the survivor
        select i.code, coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) as codes into v_cur
          from pharmacy.items as i where i.item_id = v_item;
        v_new_code := v_cur.code;
        v_codes := v_cur.codes;
        if v_code is not null and v_code is distinct from v_cur.code and v_v -> 'code' is distinct from v_old -> 'code'
           and not exists (select 1 from pharmacy.items as i where i.code = v_code and i.item_id <> v_item) then
            v_new_code := v_code;
            v_codes := (select coalesce(jsonb_agg(distinct e.value), '[]'::jsonb)
                        from jsonb_array_elements(v_codes || case when v_cur.code is not null then to_jsonb(v_cur.code)
                                                                   else '[]'::jsonb end) as e (value)
                        where e.value <> to_jsonb(v_code));
        end if;
        -- only what the write changed (the item's other values are its group's: a merged member may
        -- have given them)
        update pharmacy.items as i
           set code = v_new_code,
               name = case when v_v -> 'name' is distinct from v_old -> 'name' then v_name else i.name end,
               strength = case when v_v -> 'strength' is distinct from v_old -> 'strength' then v_strength else i.strength end,
               form = case when v_v -> 'form' is distinct from v_old -> 'form' then v_form else i.form end,
               manufacturer = case when v_v -> 'manufacturer' is distinct from v_old -> 'manufacturer'
                                   then v_manufacturer else i.manufacturer end,
               generic_name = case when v_v -> 'generic_name' is distinct from v_old -> 'generic_name'
                                   then v_v ->> 'generic_name' else i.generic_name end,
               hsn_code = case when v_v -> 'hsn_code' is distinct from v_old -> 'hsn_code' then v_v ->> 'hsn_code' else i.hsn_code end,
               gst_rate = case when v_v -> 'gst_rate' is distinct from v_old -> 'gst_rate' then v_gst else i.gst_rate end,
               is_active = case when v_v -> 'is_active' is distinct from v_old -> 'is_active' then not v_inactive else i.is_active end,
               is_external = case when v_v -> 'is_external' is distinct from v_old -> 'is_external' then v_external else i.is_external end,
               legacy_attributes = v_attrs || jsonb_build_object('legacy_codes', v_codes),
               deleted_at = null, updated_by = 'compat'
         where i.item_id = v_item;
        return;
    end if;

    -- === a new row: match it against the live items ============================================
    select f.item_id into v_match
      from pharmacy.item_for_code(v_code) as f
      join pharmacy.items as i on i.item_id = f.item_id
     where v_code is not null
       and (v_strength is null or i.strength is null or i.strength = v_strength)
       and (v_form is null or i.form is null or i.form = v_form)
       and (v_manufacturer is null or i.manufacturer is null or lower(i.manufacturer) = lower(v_manufacturer))
     limit 1;
    if v_match is null then
        select count(*), min(i.item_id::text)::uuid into v_n, v_match
          from pharmacy.items as i
         where i.deleted_at is null and pharmacy.match_name(i.name) = v_name_key
           and (v_strength is null or i.strength is null or i.strength = v_strength)
           and (v_form is null or i.form is null or i.form = v_form)
           and (v_manufacturer is null or i.manufacturer is null or lower(i.manufacturer) = lower(v_manufacturer));
        if v_n <> 1 then
            v_match := null;
        end if;
    end if;

    if v_match is not null then
        if v_code is not null then
            update pharmacy.items as i
               set legacy_attributes = jsonb_set(coalesce(i.legacy_attributes, '{}'::jsonb), '{legacy_codes}',
                       coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) || to_jsonb(v_code)),
                   updated_by = 'compat'
             where i.item_id = v_match and i.code is distinct from v_code
               and not coalesce(i.legacy_attributes -> 'legacy_codes', '[]'::jsonb) ? v_code;
        end if;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
        values ('medications', p_key, 'pharmacy.items', v_match, 'MERGED', 'compat')
        on conflict (legacy_table, legacy_key, canonical_table)
        do update set canonical_id = excluded.canonical_id, disposition = 'MERGED', run_id = 'compat', mapped_at = now();
        return;
    end if;

    v_item := etl.canonical_id('pharmacy.items', 'medications', p_key);
    v_new_code := case when v_code is not null
                            and not exists (select 1 from pharmacy.items as i where i.code = v_code and i.item_id <> v_item)
                       then v_code
                       else 'MIG-' || upper(left(md5('pharmacy.items|medications|' || p_key), 24)) end;
    insert into pharmacy.items as i (item_id, code, name, form, strength, is_active, manufacturer, generic_name, hsn_code,
                                     gst_rate, is_external, legacy_attributes, created_at, created_by, updated_by)
    values (v_item, v_new_code, v_name, v_form, v_strength, not v_inactive, v_manufacturer,
            pharmacy.clean_text(p_new ->> 'generic_name'), pharmacy.clean_text(p_new ->> 'hsn_code'), v_gst, v_external,
            v_attrs || jsonb_build_object('legacy_codes',
                case when v_code is not null and v_code <> v_new_code then jsonb_build_array(v_code) else '[]'::jsonb end),
            coalesce((p_new ->> 'created_at')::timestamptz, now()), 'compat', 'compat')
    on conflict (item_id) do update
       set code = excluded.code, name = excluded.name, form = excluded.form, strength = excluded.strength,
           is_active = excluded.is_active, manufacturer = excluded.manufacturer, generic_name = excluded.generic_name,
           hsn_code = excluded.hsn_code, gst_rate = excluded.gst_rate, is_external = excluded.is_external,
           legacy_attributes = excluded.legacy_attributes, deleted_at = null, updated_by = 'compat';
    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('medications', p_key, 'pharmacy.items', v_item, 'LOADED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
end
$$;

comment on function compat.apply_medications(text, text, jsonb, jsonb) is
    'compat write path of medications: pharmacy.items (matched, merged or new) and its provenance; stock counters stay kept values';
