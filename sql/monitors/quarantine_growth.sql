-- Monitor "quarantine_growth" (asset ops/quarantine). Figure: the legacy rows (and values) in
-- quarantine now (unresolved). The monitor compares it with the figure of its previous run
-- (etl.monitor_runs): a growth beyond HMS_MONITOR_QUARANTINE_GROWTH (a share of the previous figure)
-- is red. The first run sets the baseline.
select count(*)::numeric as figure
from ops.quarantine as q
where q.resolved_at is null
