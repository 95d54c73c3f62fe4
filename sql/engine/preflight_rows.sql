-- Pre-flight: the rows this run will write, as the target will hold them: one per LOADED row of
-- _ok, with the candidate's data columns, the columns the engine writes itself (created_by,
-- updated_by, deleted_at) and the generated columns computed from them. Checks evaluate their
-- expressions (unqualified column names) over this relation.
select b.* {generated}
from (select w._legacy_table, w._legacy_key, {columns} from _ok as w where w._final = 'LOADED') as b
