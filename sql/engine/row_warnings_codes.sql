-- Step "warnings": the warning codes each row of _ok carries (detail.warns, an array, or
-- detail.warn), one row per legacy key (_ok holds each legacy key once: provenance writes one map
-- row per key). A SELECT: row_warnings.sql inserts from it directly on a first load, and the engine
-- keeps it as the temp table _w to compare with what is recorded on a re-run.
select o._legacy_table as legacy_table, o._legacy_key as legacy_key, c.codes
from _ok as o
cross join lateral (
    select array_agg(distinct w order by w) as codes
    from jsonb_array_elements_text(case when jsonb_typeof(o._detail -> 'warns') = 'array'
                                        then o._detail -> 'warns' else jsonb_build_array(o._detail ->> 'warn') end) as w
    where w is not null
) as c
where (o._detail ? 'warn' or o._detail ? 'warns') and c.codes is not null
