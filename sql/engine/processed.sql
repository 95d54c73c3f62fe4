-- The legacy keys this run processed for the table: the keys of _todo plus any key the transform
-- re-emitted (e.g. a child whose parent's mapping changed this run).
create temp table _processed on commit drop as
select legacy_table, key from _todo
union
select _legacy_table, split_part(_legacy_key, '#', 1) from _cand
