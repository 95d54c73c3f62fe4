-- Step "provenance" (bulk, detached partition <part>): add the mappings it lacks.
-- Parameters: t canonical table, run run id.
insert into {part} (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
select o._legacy_table, o._legacy_key, %(t)s, o.{pk}, o._final, %(run)s, now() from _ok o
where not exists (select 1 from {part} m
                  where m.legacy_table = o._legacy_table and m.legacy_key = o._legacy_key)
