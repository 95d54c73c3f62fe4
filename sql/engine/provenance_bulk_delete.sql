-- Step "provenance" (bulk, detached partition <part>): drop the map rows whose mapping changed.
delete from {part} m using _ok o
where m.legacy_table = o._legacy_table and m.legacy_key = o._legacy_key
  and (m.canonical_id, m.disposition) is distinct from (o.{pk}, o._final)
