-- Step "quarantine": one ops.quarantine entry per legacy key and reason code of this run's
-- candidates (reasons the transform emitted and those the pre-flight added to _cand). An entry seen
-- again is reopened (resolved_at cleared) and moves to this run; first_seen_at stays.
-- Parameters: t canonical table, run run id.
insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id,
                            first_seen_at, last_seen_at)
select distinct on (_legacy_table, _legacy_key, _reason)
       _legacy_table, _legacy_key, %(t)s, _reason, _detail, %(run)s, now(), now()
from _cand
where _reason is not null
order by _legacy_table, _legacy_key, _reason
on conflict (legacy_table, legacy_key, target_table, reason_code) do update
set detail = excluded.detail, run_id = excluded.run_id, last_seen_at = now(), resolved_at = null
