-- Step "warnings" (1/2): forget the warning codes of the legacy rows this run processed (loaded,
-- merged or quarantined again) unless the row loaded now carries the same codes (_w, from
-- row_warnings_codes.sql); row_warnings.sql then records the new and changed ones. A whole-table
-- re-derivation that changes nothing deletes and inserts nothing. EXCEPT (a hashed set operation)
-- rather than NOT EXISTS: with the three-column key the planner guesses one row and chose a nested
-- loop over _w (inventory_txns at 20k patients: 15.6M rows compared, 3.3 s).
-- Parameters: t canonical table.
with gone as (
    select r.legacy_table, r.legacy_key, r.codes
    from etl.row_warnings as r
    join (select distinct _legacy_table, _legacy_key from _cand) as c
      on c._legacy_table = r.legacy_table and c._legacy_key = r.legacy_key
    where r.canonical_table = %(t)s
    except
    select w.legacy_table, w.legacy_key, w.codes from _w as w
)
delete from etl.row_warnings as r
using gone as g
where r.canonical_table = %(t)s and r.legacy_table = g.legacy_table and r.legacy_key = g.legacy_key
