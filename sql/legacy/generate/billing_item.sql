-- billing_item: the bill's lines (same qty/unit functions as billing.sql). Pharmacy lines carry the
-- hard-coded medicine line_type_id (contract defect 15), medicine_id = a medications id, the batch;
-- external items have batch_number 'EXTERNAL' and batch_id/expiry NULL (defect 9).
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nm)s::bigint nm, %(nb)s::bigint nb, %(na)s::bigint na,
                  %(nipe)s::bigint nipe, %(nlabe)s::bigint nlabe, %(nbill)s::bigint nbill, %(bill_fan)s::float8 fan,
                  %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt, %(fee_services)s::text[] fs),
b as (
    -- the bill's kind and issue time, from the same functions billing.sql uses (no join needed)
    select p.*, n,
           pg_temp.bill_kind(s, n) as kind,
           pg_temp.bill_forced(s, n, (rt->>'walk_in_bill')::float8, (rt->>'self_bill')::float8, nbill) as forced
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
b2 as (select b.*, pg_temp.bill_enc(s, n, kind, forced, na, nipe, nlabe) as e from b offset 0),
bb as (
    select b2.*,
           case when forced then 'medicine' when kind = 'lab' then 'lab' when kind = 'rad' then 'procedure'
                when kind = 'ip' then 'stay' when kind = 'pharmacy' then 'medicine' else 'service' end as line,
           pg_temp.bill_issued(s, n, e, pg_temp.hit(s, 'future_date', n, (rt->>'future_date')::float8, nbill), np, as_of, span) as issued_at,
           pg_temp.uid(s, 'billing', n) as billing_id
    from b2
    offset 0
),
l as (
    select bb.*, j, n * 100 + j as k,
           1 + (pg_temp.h(s, 'bi.m', n) + j) %% nm as m,
           (rt->>'external_item')::float8 > 0
               and ((n = pg_temp.pin(s, 'external_item', nbill) and j = 1)
                    or pg_temp.r(s, 'external_item', n * 100 + j) < (rt->>'external_item')::float8) as ext
    from bb cross join lateral generate_series(1, pg_temp.bill_nlines(bb.s, bb.n, bb.fan)) j
    offset 0
),
x as (select l.*, pg_temp.batch_j(s, m, (rt->>'batch_number_reused')::float8, nb) as bj from l offset 0)
insert into billing_item (id, billing_id, line_type_id, ref_id, description, qty, unit_amount, total_amount, medicine_id,
                          batch_id, batch_number, expiry_date, created_at, updated_at)
select pg_temp.uid(s, 'billing_item', k),
       x.billing_id,
       rc.id,
       null::uuid,
       case when line = 'medicine' and ext then 'External: ' || md.name
            when line = 'medicine' then md.name
            else fs[1 + (pg_temp.h(s, 'bi.fs', k) %% cardinality(fs))::int] end,
       pg_temp.bill_line_qty(s, n, j),
       pg_temp.bill_line_unit(s, n, j),
       pg_temp.bill_line_qty(s, n, j) * pg_temp.bill_line_unit(s, n, j),
       case when line = 'medicine' and not ext then md.id end,
       case when line = 'medicine' and not ext and m <= nb then pg_temp.uid(s, 'medicine_batches', m) end,
       case when line = 'medicine' and ext then 'EXTERNAL'
            when line = 'medicine' and m <= nb then pg_temp.batch_no_of(s, bj) end,
       case when line = 'medicine' and not ext and m <= nb then pg_temp.batch_received(s, m, (x.issued_at at time zone 'UTC')::date) + 700 end,
       x.issued_at,
       x.issued_at
from x
join ref_code rc on rc.domain = 'billing_line' and rc.code = x.line
left join medications md on x.line = 'medicine' and md.id = pg_temp.uid(s, 'medications', m)
