-- Rows loaded with a warning, per warn code: a row may carry several (detail.warns) or one
-- (detail.warn); each is counted.
select w, count(*)
from _ok,
     jsonb_array_elements_text(case when jsonb_typeof(_detail -> 'warns') = 'array'
                                    then _detail -> 'warns' else jsonb_build_array(_detail ->> 'warn') end) as w
where _detail ? 'warn' or _detail ? 'warns'
group by 1
order by 1
