-- Step "resolve": an open quarantine entry of a legacy key this run processed (in _todo) whose
-- reason no candidate gives any more no longer applies: mark it resolved.
-- Parameters: t canonical table, run run id.
update ops.quarantine q set resolved_at = now(), run_id = %(run)s
from (
    select q2.legacy_table, q2.legacy_key, q2.reason_code
    from ops.quarantine q2
    join _todo t on t.legacy_table = q2.legacy_table and t.key = split_part(q2.legacy_key, '#', 1)
    left join _cand c on c._legacy_table = q2.legacy_table and c._legacy_key = q2.legacy_key
                     and c._reason = q2.reason_code
    where q2.target_table = %(t)s and q2.resolved_at is null and c._legacy_key is null
) as r
where q.target_table = %(t)s and q.legacy_table = r.legacy_table and q.legacy_key = r.legacy_key
  and q.reason_code = r.reason_code
