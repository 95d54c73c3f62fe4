-- Reviewers' decisions on the drug master's review list (pharmacy.items rows loaded with the WARN
-- AMBIGUOUS_MATCH: pairs neither clearly the same drug nor clearly different). Data, not code:
-- one row per decision, ref.codes system 'review:pharmacy.items',
--   code    = legacy id (medications.id / medicines.id) of the row to merge,
--   display = legacy id of the row whose item it merges into.
-- The next run merges the first row's item (its whole group) into the second's; the merged rows are
-- MERGED in ops.legacy_id_map with rule REVIEWER. Removing a row here undoes the merge on the next
-- run: this file is the whole list of the system's decisions (rows no longer listed are deleted
-- from ref.codes; files named pharmacy_review*.sql after this one may add more).
drop table if exists _pharmacy_review;
create temp table _pharmacy_review (code text, display text) on commit drop;

insert into _pharmacy_review (code, display) values
    (null, null)  -- keeps the list valid while it is empty (ignored)
    -- , ('<legacy id of the row to merge>', '<legacy id of the row it merges into>')
;

delete from ref.codes as c
where c.system = 'review:pharmacy.items'
  and not exists (select 1 from _pharmacy_review as d where d.code = c.code and d.display is not distinct from c.display);

insert into ref.codes (code, system, display)
select distinct on (d.code) d.code, 'review:pharmacy.items', d.display
from _pharmacy_review as d
where nullif(btrim(d.code), '') is not null and nullif(btrim(d.display), '') is not null
order by d.code, d.display
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;

drop table _pharmacy_review;
