-- compat write path: ref_code (INSERT, UPDATE, DELETE). The rules of sql/ref/codes.sql: a legacy
-- code is the ref.codes row (code, 'legacy.' || domain, display = label), provenance id
-- etl.canonical_id('ref.codes', 'legacy.' || domain, code). A code or domain that is blank, or
-- longer than 255 characters, cannot be a code: raised (MISSING_VALUE / OUT_OF_RANGE naming the
-- column), so the dispatcher quarantines the row. Reference data has no soft delete: a deleted (or
-- renamed) code's ref.codes row goes when no other legacy row names it. active is kept
-- (ops.legacy_kept, the dispatcher's).
create or replace function compat.apply_ref_code(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_code text := p_new ->> 'code';
    v_system text := 'legacy.' || (p_new ->> 'domain');
    v_old uuid;
    v_old_code text;
    v_old_system text;
begin
    select m.canonical_id into v_old
      from ops.legacy_id_map as m
     where m.canonical_table = 'ref.codes' and m.legacy_table = 'ref_code' and m.legacy_key = p_key;
    if v_old is not null then
        select c.code, c.system into v_old_code, v_old_system
          from ref.codes as c
         where c.system like 'legacy.%' and etl.canonical_id('ref.codes', c.system, c.code) = v_old;
    end if;

    if p_op <> 'DELETE' then
        if nullif(btrim(v_code), '') is null then
            raise exception 'compat ref_code: rule MISSING_VALUE, column code' using errcode = 'HM002', column = 'code';
        elsif nullif(btrim(p_new ->> 'domain'), '') is null then
            raise exception 'compat ref_code: rule MISSING_VALUE, column domain' using errcode = 'HM002', column = 'domain';
        elsif length(v_code) > 255 then
            raise exception 'compat ref_code: rule OUT_OF_RANGE, column code' using errcode = 'HM002', column = 'code';
        elsif length(p_new ->> 'domain') > 255 then
            raise exception 'compat ref_code: rule OUT_OF_RANGE, column domain' using errcode = 'HM002', column = 'domain';
        end if;
        insert into ref.codes as c (code, system, display) values (v_code, v_system, p_new ->> 'label')
        on conflict (code, system) do update set display = excluded.display
        where c.display is distinct from excluded.display;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
        values ('ref_code', p_key, 'ref.codes', etl.canonical_id('ref.codes', v_system, v_code), 'LOADED', 'compat', now())
        on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
    end if;

    -- the code this row named before (deleted or renamed): gone when no other legacy row names it
    if v_old_code is not null and (p_op = 'DELETE' or v_old <> etl.canonical_id('ref.codes', v_system, v_code)) then
        if not exists (select 1 from ops.legacy_id_map as m
                        where m.canonical_table = 'ref.codes' and m.legacy_table = 'ref_code'
                          and m.canonical_id = v_old and m.legacy_key <> p_key) then
            delete from ref.codes as c where c.code = v_old_code and c.system = v_old_system;
        end if;
    end if;
end
$$;
