-- Monitor "open_encounters" (asset clinical/encounters). Figure: live encounters still open (end_at
-- null) that started more than HMS_MONITOR_OPEN_ENCOUNTER_DAYS days ago (a visit nobody closed).
-- Tolerated: 0.
select count(*)::numeric as figure
from clinical.encounters as e
where e.deleted_at is null
  and e.end_at is null
  and e.start_at < now() - make_interval(days => %(days)s)
