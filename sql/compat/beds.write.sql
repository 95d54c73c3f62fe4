-- compat write path: beds. Called by compat.dispatch after the dual write and the kept-store update
-- (room_number, floor_number, daily_rate, features are kept). Rules of sql/inpatient/beds.sql:
--   * id: inpatient.beds etl.canonical_id('inpatient.beds', 'beds', <key>), LOADED. An INSERT whose
--     number equals (etl.norm_key: case, spaces) a live bed of the same ward is that bed: MERGED
--     into it. A row already MERGED writes to the bed it was merged into.
--   * label = bed_number trimmed; type / status through ref.codes 'map:beds.bed_type' /
--     'map:beds.status' (an unmapped value loads NULL, the transform's WARN UNMAPPED_VALUE).
--   * ward: the ward of department_id (etl.canonical_id('inpatient.wards', 'departments', <id>),
--     when live), else NULL (the transform's WARN NO_WARD).
--   * DELETE: soft-deletes the canonical bed (a MERGED row's delete only drops its provenance).
-- Errors name the table, the rule and the column, never a value.
create or replace function compat.apply_beds(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_id uuid;
    v_disposition text := 'LOADED';
    v_mapped_id uuid;
    v_mapped_disposition text;
    v_ward uuid;
    v_label text;
begin
    if p_op not in ('INSERT', 'UPDATE', 'DELETE') then
        raise exception 'compat beds: unknown operation (rule COMPAT_OP, column id)';
    end if;
    select m.canonical_id, m.disposition into v_mapped_id, v_mapped_disposition
    from ops.legacy_id_map as m
    where m.legacy_table = 'beds' and m.legacy_key = p_key and m.canonical_table = 'inpatient.beds';

    if p_op = 'DELETE' then
        if v_mapped_disposition = 'MERGED' then
            delete from ops.legacy_id_map as m
            where m.legacy_table = 'beds' and m.legacy_key = p_key and m.canonical_table = 'inpatient.beds';
        elsif v_mapped_id is not null then
            update inpatient.beds set deleted_at = now(), updated_by = 'compat'
            where bed_id = v_mapped_id and deleted_at is null;
        end if;
        return;
    end if;

    select w.ward_id into v_ward
    from inpatient.wards as w
    where w.ward_id = etl.canonical_id('inpatient.wards', 'departments', p_new ->> 'department_id')
      and w.deleted_at is null;
    v_label := btrim(p_new ->> 'bed_number');

    if v_mapped_id is not null then
        v_id := v_mapped_id;
        v_disposition := v_mapped_disposition;
    else
        -- the same bed under another spelling of its number (same ward)
        select b.bed_id into v_id
        from inpatient.beds as b
        where b.deleted_at is null
          and b.ward_id is not distinct from v_ward
          and etl.norm_key(b.label) = etl.norm_key(v_label)
          and etl.norm_key(v_label) is not null
        order by b.created_at, b.bed_id
        limit 1;
        if v_id is not null then
            v_disposition := 'MERGED';
        else
            v_id := etl.canonical_id('inpatient.beds', 'beds', p_key);
        end if;
    end if;

    if v_disposition = 'LOADED' then
        insert into inpatient.beds as b (bed_id, ward_id, label, type, status, created_at, created_by, updated_by)
        values (v_id, v_ward, v_label,
                (select c.display from ref.codes as c
                 where c.system = 'map:beds.bed_type' and c.code = etl.norm_key(p_new ->> 'bed_type')),
                (select c.display from ref.codes as c
                 where c.system = 'map:beds.status' and c.code = etl.norm_key(p_new ->> 'status')),
                coalesce((p_new ->> 'created_at')::timestamptz, now()), 'compat', 'compat')
        on conflict (bed_id) do update
            set ward_id = excluded.ward_id,
                label = excluded.label,
                type = excluded.type,
                status = excluded.status,
                created_at = excluded.created_at,
                updated_by = 'compat',
                deleted_at = null;
    else
        -- a duplicate row of a bed: its status still moves the bed (the app marks beds occupied)
        update inpatient.beds as b
           set status = (select c.display from ref.codes as c
                         where c.system = 'map:beds.status' and c.code = etl.norm_key(p_new ->> 'status')),
               updated_by = 'compat'
         where b.bed_id = v_id and p_op = 'UPDATE'
           and (p_old ->> 'status') is distinct from (p_new ->> 'status');
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('beds', p_key, 'inpatient.beds', v_id, v_disposition, 'compat')
    on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
            run_id = excluded.run_id, mapped_at = now();
end
$$;
