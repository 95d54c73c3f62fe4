-- billing_item: the bill's lines (same qty/unit functions as billing.sql). Pharmacy lines carry the
-- hard-coded medicine line_type_id (contract defect 15), medicine_id = a medications id, the batch;
-- external items have batch_number 'EXTERNAL' and batch_id/expiry NULL (defect 9).
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nb)s::bigint nb, %(nbill)s::bigint nbill,
                  %(bill_fan)s::float8 fan, %(rates)s::jsonb rt, %(fee_services)s::text[] fs),
l as (
    select p.*, n, j, n * 100 + j as k,
           1 + (pg_temp.h(s, 'bi.m', n) + j) %% nm as m,
           (rt->>'external_item')::float8 > 0
               and ((n = pg_temp.pin(s, 'external_item', nbill) and j = 1)
                    or pg_temp.r(s, 'external_item', n * 100 + j) < (rt->>'external_item')::float8) as ext
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n, generate_series(1, pg_temp.bill_nlines(p.s, n, p.fan)) j
    offset 0
),
x as (
    select l.*, bl.id as billing_id, bl.bill_type, bl.issued_at,
           case when bl.bill_type = 'pharmacy' then 'medicine'
                when bl.bill_type in ('lab', 'diagnostic') then 'lab'
                when bl.bill_type in ('radiology', 'scan', 'xray') then 'procedure'
                when bl.bill_type = 'bed_charges' then 'stay'
                else 'service' end as line
    from l join billing bl on bl.id = pg_temp.uid(s, 'billing', n)
    offset 0
)
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
            when line = 'medicine' and m <= nb then pg_temp.batch_no(s, m, (rt->>'batch_number_reused')::float8, nb) end,
       case when line = 'medicine' and not ext and m <= nb then pg_temp.batch_received(s, m, (x.issued_at at time zone 'UTC')::date) + 700 end,
       x.issued_at,
       x.issued_at
from x
join ref_code rc on rc.domain = 'billing_line' and rc.code = x.line
left join medications md on x.line = 'medicine' and md.id = pg_temp.uid(s, 'medications', m)
