-- Step "warnings" (2/2): the warning codes of each row of _ok that carries one (detail.warns, an
-- array, or detail.warn), kept per legacy row so the warnings check counts the standing state.
-- Parameters: t canonical table, run run id.
insert into etl.row_warnings (canonical_table, legacy_table, legacy_key, codes, run_id)
select %(t)s, _legacy_table, _legacy_key, array_agg(distinct w order by w), %(run)s
from _ok,
     jsonb_array_elements_text(case when jsonb_typeof(_detail -> 'warns') = 'array'
                                    then _detail -> 'warns' else jsonb_build_array(_detail ->> 'warn') end) as w
where (_detail ? 'warn' or _detail ? 'warns') and w is not null
group by _legacy_table, _legacy_key
on conflict (canonical_table, legacy_table, legacy_key) do update
set codes = excluded.codes, run_id = excluded.run_id
