-- Step "resolve": an open quarantine entry of a legacy key this run processed (in _todo) whose
-- reason no candidate gives any more no longer applies: mark it resolved.
-- Written so that no plan can go quadratic whatever the statistics (ops.quarantine may have none
-- yet): the open entries of this table are materialized once with their row key computed, then
-- hashed against _todo and _cand (the engine also turns nested loops off for this statement).
-- Parameters: t canonical table, run run id.
with open_entries as materialized (
    select q.legacy_table, q.legacy_key, q.reason_code, split_part(q.legacy_key, '#', 1) as key
    from ops.quarantine as q
    where q.target_table = %(t)s and q.resolved_at is null
),

processed as materialized (
    select distinct t.legacy_table, t.key from _todo as t
),

gone as materialized (
    select o.legacy_table, o.legacy_key, o.reason_code
    from open_entries as o
    join processed as p on p.legacy_table = o.legacy_table and p.key = o.key
    left join _cand as c on c._legacy_table = o.legacy_table and c._legacy_key = o.legacy_key
                        and c._reason = o.reason_code
    where c._legacy_key is null
)

update ops.quarantine as q set resolved_at = now(), run_id = %(run)s
from gone as r
where q.target_table = %(t)s and q.legacy_table = r.legacy_table and q.legacy_key = r.legacy_key
  and q.reason_code = r.reason_code
