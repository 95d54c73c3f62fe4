-- The partitions of ops.legacy_id_map: one per canonical table, in schema etl (engine storage; ops
-- keeps exactly the blueprint's provenance tables). The engine calls etl.id_map_partition() before
-- it maps a table's rows; the name is validated and quoted here (format %I / %L), never spliced.
-- Rows written by anyone else for a table without a partition land in etl.id_map_default and move
-- to the table's own partition when it is created.
create table if not exists etl.id_map_default partition of ops.legacy_id_map default;

create or replace function etl.id_map_partition(p_canonical_table text)
returns regclass
language plpgsql
as $$
declare
    part text := 'id_map_' || replace(p_canonical_table, '.', '__');
    rel regclass;
begin
    if p_canonical_table !~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$' or length(part) > 63 then
        raise exception 'ops.legacy_id_map: invalid canonical table name %', p_canonical_table
            using errcode = '22023';
    end if;
    rel := to_regclass(format('etl.%I', part));
    if rel is null then
        execute format('create table etl.%I (like ops.legacy_id_map including defaults including constraints)', part);
        execute format('with moved as (delete from etl.id_map_default where canonical_table = %L returning *) '
                       'insert into etl.%I select * from moved', p_canonical_table, part);
        execute format('alter table ops.legacy_id_map attach partition etl.%I for values in (%L)', part, p_canonical_table);
        rel := to_regclass(format('etl.%I', part));
    end if;
    return rel;
end
$$;

comment on function etl.id_map_partition(text) is
    'The partition of ops.legacy_id_map holding one canonical table''s rows, created when missing.';

-- Upgrade: move the rows of a map created before it was partitioned (renamed by 080).
do $$
declare
    t text;
begin
    if to_regclass('ops.legacy_id_map_unpartitioned') is not null then
        for t in select distinct canonical_table from ops.legacy_id_map_unpartitioned loop
            perform etl.id_map_partition(t);
        end loop;
        insert into ops.legacy_id_map select * from ops.legacy_id_map_unpartitioned;
        drop table ops.legacy_id_map_unpartitioned;
    end if;
end
$$;
