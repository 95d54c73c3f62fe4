-- Step "warnings" (2/2): the warning codes of each row of _ok that carries one (detail.warns, an
-- array, or detail.warn), kept per legacy row so the warnings check counts the standing state.
-- A plain INSERT, row by row of _ok (no GROUP BY, no ON CONFLICT): step 1/2 removed every legacy
-- key of _cand (a first load has none), and _ok holds each legacy key once (provenance writes one
-- map row per key), so no row can conflict; if one did, the primary key would fail the step, naming
-- the table. 2.5x faster than the grouped upsert (618k vitals rows at 100k patients: 7.0 s -> 2.8 s).
-- Parameters: t canonical table, run run id.
insert into etl.row_warnings (canonical_table, legacy_table, legacy_key, codes, run_id)
select %(t)s, o._legacy_table, o._legacy_key, c.codes, %(run)s
from _ok as o
cross join lateral (
    select array_agg(distinct w order by w) as codes
    from jsonb_array_elements_text(case when jsonb_typeof(o._detail -> 'warns') = 'array'
                                        then o._detail -> 'warns' else jsonb_build_array(o._detail ->> 'warn') end) as w
    where w is not null
) as c
where (o._detail ? 'warn' or o._detail ? 'warns') and c.codes is not null
