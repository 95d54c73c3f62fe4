-- Pre-flight, one unique index (UNIQUE constraint, partial or expression index): among the LOADED
-- rows in the index's scope (its predicate holds; key not NULL unless NULLS NOT DISTINCT), a key
-- value may be written once. Survivor rule: a row already physically in the target holding the
-- value (live or soft-deleted, with another primary key) keeps it and every row of this write with
-- that value is refused; otherwise the earliest row (created_at, when the write sets it; NULL last)
-- survives, ties broken by the lowest (legacy table, legacy key) in byte order (collation "C", the
-- same on every server), and the others are refused. A refused row
-- names its survivor (legacy table and key; the canonical id of a target row) in detail.survivor.
-- The key expressions are evaluated over the written rows (w) and over the target (h) with the same
-- text, so the comparison is the index's (same expressions, collations, equality operators).
insert into _pf_new (_legacy_table, _legacy_key, _pk, _reason, _detail)
with w as materialized (
    select r._legacy_table, r._legacy_key, r._pk, r._born, {r_keys}
    from (select b._legacy_table, b._legacy_key, b.{pk} as _pk, {born} as _born, {keys}, ({predicate}) as _in
          from ({rows}) as b) as r
    where r._in {w_not_null}
),
held as (
    select distinct on (w._legacy_table, w._legacy_key) w._legacy_table, w._legacy_key, w._pk, h._holder
    from w
    join (select {pk} as _holder, {keys}, ({predicate}) as _in from {target}) as h on {w_h}
    where h._in and h._holder is distinct from w._pk
    order by w._legacy_table, w._legacy_key, h._holder
),
dup as (
    select {k_list} from w group by {k_list} having count(*) > 1
),
ranked as (
    select w._legacy_table, w._legacy_key, w._pk,
           first_value(w._legacy_table) over k as _s_table,
           first_value(w._legacy_key) over k as _s_key,
           row_number() over k as _rn
    from w
    join dup on {w_dup}
    window k as (partition by {w_k_list}
                 order by w._born nulls last, w._legacy_table collate "C", w._legacy_key collate "C")
),
losers as (  -- held values first; then the duplicates within the write that no target row holds
    select h._legacy_table, h._legacy_key, h._pk, h._holder, null::text as _s_table, null::text as _s_key
    from held as h
    union all
    select k._legacy_table, k._legacy_key, k._pk, null, k._s_table, k._s_key
    from ranked as k
    where k._rn > 1
      and not exists (select 1 from held as h where h._legacy_table = k._legacy_table and h._legacy_key = k._legacy_key)
)
select l._legacy_table, l._legacy_key, l._pk, 'DUPLICATE_KEY',
       jsonb_build_object('constraint', {name}::text, 'rule', 'UNIQUE', 'survivor',
           case when l._holder is not null
                then jsonb_strip_nulls(jsonb_build_object('canonical_id', l._holder::text,
                                                          'legacy_table', m.legacy_table, 'legacy_key', m.legacy_key))
                else jsonb_build_object('legacy_table', l._s_table, 'legacy_key', l._s_key) end)
from losers as l
left join lateral ({holder_key}) as m on true
