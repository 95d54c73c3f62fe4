-- Step "warnings" (1/2): forget the warning codes of the legacy rows this run processed (loaded,
-- merged or quarantined again); row_warnings.sql records those of the rows loaded now.
-- Parameters: t canonical table.
delete from etl.row_warnings as w
using (select distinct _legacy_table, _legacy_key from _cand) as c
where w.canonical_table = %(t)s and w.legacy_table = c._legacy_table and w.legacy_key = c._legacy_key
