-- Step "disposition" (tables whose transform merges): temp table _ok, the loadable candidates with
-- their final disposition. Per canonical id (<pk>) the first LOADED row (by legacy table, legacy
-- key) carries the data and is written; every other row of that id is MERGED into it.
create temp table _ok on commit drop as
select c.*,
       case when row_number() over (
                 partition by c.{pk} order by c._disposition <> 'LOADED', c._legacy_table, c._legacy_key) = 1
             and c._disposition = 'LOADED' then 'LOADED' else 'MERGED' end as _final
from _cand c
where c._reason is null
