-- Step "unmap" (one legacy source): map entries of canonical table t from legacy table src that no
-- row of _ok gives any more while the legacy row is still there (now quarantined, or no longer
-- emitted). A legacy row deleted on the legacy side, or never staged, keeps its entry (history).
-- Parameters: t canonical table, src legacy table; {stg} is stg.<src>.
delete from ops.legacy_id_map as m
where m.canonical_table = %(t)s and m.legacy_table = %(src)s
  and not exists (select 1 from _ok as o where o._legacy_table = m.legacy_table and o._legacy_key = m.legacy_key)
  and exists (select 1 from {stg} as s where s._key = split_part(m.legacy_key, '#', 1) and not s._deleted)
