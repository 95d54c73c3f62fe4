-- stock_transactions / pharmacy_stock_transactions ({target}; the same ledger shape): movements on
-- a batch of a medication (contract defects 6, 7, 11): 'sale' rows from dispensing are positive
-- with unit_price 0, other sales negative; adjustment/purchase_return negative; total_amount 0 before
-- ledger_total_from; purchases before packs_until counted in packs; references only in notes.
-- Defects: zero quantity, a batch_number that names no batch.
with p as (select %(seed)s::bigint s, %(tag)s::text tg, %(nm)s::bigint nm, %(nb)s::bigint nb, %(nseed)s::bigint nseed,
                  %(ndup)s::bigint ndup, %(nstaffu)s::bigint nu, %(nrx)s::bigint nrx, %(nbill)s::bigint nbill,
                  %(n_rows)s::bigint nt, %(days_from)s::int dfrom, %(days_span)s::int dspan,
                  %(as_of)s::date as_of, %(packs_until)s::date packs_until, %(ledger_total_from)s::date total_from,
                  %(rates)s::jsonb rt, %(stems)s::text[] stems, %(strengths)s::text[] strengths, %(forms)s::text[] forms),
t as (
    select p.*, n,
           pg_temp.ri(s, tg || '.batch', n, nb) as i,
           pg_temp.r(s, tg || '.type', n) as u,
           1 + (pg_temp.h(s, tg || '.q', n) %% 50)::int as q,
           pg_temp.at(as_of - dfrom - (pg_temp.h(s, tg || '.d', n) %% dspan)::int, 0.15 + 0.5 * pg_temp.r(s, tg || '.tod', n)) as td
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
k as (
    select t.*,
           pg_temp.batch_med(i, nm) as m,
           pg_temp.batch_j(s, i, (rt->>'batch_number_reused')::float8, nb) as bj,
           pg_temp.pack_size(pg_temp.med_drug(pg_temp.batch_med(i, nm), nseed, ndup), stems, strengths, forms) as pack,
           5 + (pg_temp.h(s, 'drug.mrp', pg_temp.med_drug(pg_temp.batch_med(i, nm), nseed, ndup)) %% 400)::int as mrp,
           case when u < 0.25 then 'purchase' when u < 0.65 then 'sale' when u < 0.75 then 'adjustment'
                when u < 0.80 then 'return' when u < 0.85 then 'purchase_return' when u < 0.88 then 'expired'
                when u < 0.92 then 'opening_balance' when u < 0.94 then 'stock_take' when u < 0.96 then 'transfer_in'
                when u < 0.98 then 'transfer_out' when u < 0.99 then 'billing_adjustment' else 'manual_adjustment' end as ttype,
           pg_temp.hit(s, 'ledger_wrong_sign', n, (rt->>'ledger_wrong_sign')::float8, nt) as dispensing,
           pg_temp.hit(s, 'zero_qty', n, (rt->>'zero_qty')::float8, nt) as zero,
           pg_temp.hit(s, 'unknown_batch', n, (rt->>'unknown_batch')::float8, nt) as badbatch
    from t
    offset 0
),
v as (
    select k.*,
           case when zero then 0
                when ttype in ('purchase', 'return', 'opening_balance', 'transfer_in', 'stock_take') then q
                when ttype = 'sale' and dispensing then q
                else -q end as qty,
           case when ttype = 'sale' and dispensing then 0
                when ttype = 'purchase' then round(mrp * 0.7 / pack, 2)
                else round(mrp::numeric / pack, 2) end as price
    from k
    offset 0
)
insert into {target} (id, medication_id, transaction_type, quantity, unit_price, total_amount, batch_number, expiry_date,
                      supplier_id, reference_id, reference_type, notes, performed_by, transaction_date, created_at)
select pg_temp.uid(s, tg, n),
       pg_temp.uid(s, 'medications', m),
       ttype,
       qty,
       price,
       case when td < (total_from::timestamp at time zone 'UTC') then 0 else round(abs(qty) * price, 2) end,
       case when badbatch then 'BX' || upper(substr(md5(s::text || ':' || tg || ':bx:' || n::text), 1, 6))
            when pg_temp.r(s, tg || '.nobn', n) < 0.05 then null
            else pg_temp.batch_no_of(s, bj) end,
       case when pg_temp.r(s, tg || '.exp', n) < 0.6 then pg_temp.batch_received(s, i, as_of) + 700 end,
       null::uuid,
       case when ttype = 'sale' and not dispensing then pg_temp.uid(s, 'billing', pg_temp.ri(s, tg || '.bill', n, nbill)) end,
       case when ttype = 'purchase_return' then 'purchase_return' end,
       case ttype when 'purchase' then 'Purchase: ' || (1500 + n)::text
                  when 'sale' then case when dispensing then 'Dispensed for prescription RX' || pg_temp.pad(pg_temp.ri(s, tg || '.rx', n, nrx), 6)
                                        else 'billing_id:' || pg_temp.uid(s, 'billing', pg_temp.ri(s, tg || '.bill', n, nbill))::text end
                  when 'transfer_out' then 'Department Issue: ' || (array['ICU', 'OT', 'Ward 2', 'Casualty'])[1 + (pg_temp.h(s, tg || '.dep', n) %% 4)::int]
                  when 'adjustment' then 'Stock correction after count'
                  else null end,
       pg_temp.uid(s, 'users', pg_temp.ri(s, tg || '.by', n, nu)),
       td,
       td
from v
