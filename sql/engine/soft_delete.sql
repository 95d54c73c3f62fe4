-- Step "soft-delete": the stale ids (see stale.sql) that no row of this run writes any more lose
-- their live status (deleted_at); rows are never deleted.
-- Parameters: actor.
update {target} t set deleted_at = now(), updated_by = %(actor)s
from _stale s
where t.{pk} = s.canonical_id and t.deleted_at is null
