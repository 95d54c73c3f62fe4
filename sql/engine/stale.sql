-- Step "stale ids": temp table _stale, the canonical ids the processed legacy keys produced as
-- LOADED before this run (taken before the provenance step rewrites the map). <processed> joins
-- _processed (tables with legacy sources) or is empty (derived tables: all their keys); <any> is
-- false on a first load (nothing produced before, nothing can be stale).
-- Parameters: t canonical table.
create temp table _stale on commit drop as
select distinct m.canonical_id
from ops.legacy_id_map m {processed}
where m.canonical_table = %(t)s and m.disposition = 'LOADED' and {any}
