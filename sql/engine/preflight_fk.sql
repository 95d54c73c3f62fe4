-- Pre-flight, one foreign key: LOADED rows whose key columns are set (MATCH SIMPLE: all of them;
-- MATCH FULL: any of them, and then all) with no parent row, or only a soft-deleted one. A
-- self-referencing key may find its parent among the rows written in this step. The test itself
-- (violated, composed by hms_pipeline/engine/preflight.py) is two NOT EXISTS anti-joins.
-- Parameters: detail (jsonb).
insert into _pf_new (_legacy_table, _legacy_key, _pk, _reason, _detail)
select w._legacy_table, w._legacy_key, w.{pk}, 'ORPHAN_FK', %(detail)s::jsonb
from _ok as w
where w._final = 'LOADED' and {violated}
