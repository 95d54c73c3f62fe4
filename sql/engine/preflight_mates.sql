-- Pre-flight: the rows MERGED into a refused survivor (same canonical id) are refused with it, with
-- the same reason and detail, plus detail.survivor_quarantined naming the survivor. They are not
-- promoted: their data is the survivor's duplicate and was never the row chosen to be written;
-- the next run retries them all together.
insert into _pf_new (_legacy_table, _legacy_key, _pk, _reason, _detail)
select o._legacy_table, o._legacy_key, o.{pk}, v._reason,
       (v._detail - 'survivor')
           || jsonb_build_object('survivor_quarantined',
                                 jsonb_build_object('legacy_table', v._legacy_table, 'legacy_key', v._legacy_key))
from _ok as o
join (select distinct on (_pk) _pk, _legacy_table, _legacy_key, _reason, _detail
      from _pf_new
      where _pk is not null
      order by _pk, _reason, _detail::text) as v on v._pk = o.{pk}
where o._final = 'MERGED'
