-- Step "unmap" (keys under no staged source, e.g. lab tests derived from report text, legacy table
-- 'lab_test_code'): map entries of canonical table t that no row of _ok gives any more.
-- Parameters: t canonical table, sources the staged legacy sources (handled by unmap_source.sql).
delete from ops.legacy_id_map as m
where m.canonical_table = %(t)s and m.legacy_table <> all (%(sources)s::text[])
  and not exists (select 1 from _ok as o where o._legacy_table = m.legacy_table and o._legacy_key = m.legacy_key)
