-- Step "warnings" (2/2): record the warning codes of the rows loaded now (the codes: the SELECT of
-- row_warnings_codes.sql on a first load, else its temp table _w less what is recorded), kept per
-- legacy row so the warnings check counts the standing state. On a re-run step 1/2 removed every
-- recorded row of a processed key whose codes changed and kept the equal ones, so only new and
-- changed rows are written (a re-run that changes nothing writes nothing). A plain INSERT (no GROUP
-- BY, no ON CONFLICT): _ok holds each legacy key once, so no row can conflict; if one did, the
-- primary key would fail the step, naming the table.
-- Parameters: t canonical table, run run id.
insert into etl.row_warnings (canonical_table, legacy_table, legacy_key, codes, run_id)
select %(t)s, w.legacy_table, w.legacy_key, w.codes, %(run)s
from {codes} as w
