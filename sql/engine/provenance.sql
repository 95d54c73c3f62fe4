-- Step "provenance" (row by row): record every loaded or merged legacy key of _ok in
-- ops.legacy_id_map; a mapping that did not change is not rewritten.
-- Parameters: t canonical table, run run id.
insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id,
                               disposition, run_id, mapped_at)
select _legacy_table, _legacy_key, %(t)s, {pk}, _final, %(run)s, now() from _ok
on conflict (legacy_table, legacy_key, canonical_table) do update
set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
    run_id = excluded.run_id, mapped_at = now()
where (ops.legacy_id_map.canonical_id, ops.legacy_id_map.disposition)
      is distinct from (excluded.canonical_id, excluded.disposition)
