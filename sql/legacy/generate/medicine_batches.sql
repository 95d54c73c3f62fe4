-- medicine_batches (contract defects 5, 8): batch i belongs to medication batch_med(i); quantities
-- are in packs when received before packs_until, in units after; prices per pack; the pack size is
-- in notes ('pack of N'). Some batches set only one of medicine_id/medication_id, a few reuse the
-- previous batch's number, and orphans point at no medication.
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nb)s::bigint nb, %(nseed)s::bigint nseed, %(ndup)s::bigint ndup,
                  %(as_of)s::date as_of, %(packs_until)s::date packs_until, %(rates)s::jsonb rt,
                  %(stems)s::text[] stems, %(strengths)s::text[] strengths, %(forms)s::text[] forms, %(suppliers)s::text[] sup),
b as (
    select p.*, n,
           pg_temp.batch_med(n, nm) as m,
           pg_temp.batch_j(s, n, (rt->>'batch_number_reused')::float8, nb) as bj,
           pg_temp.pack_size(pg_temp.med_drug(pg_temp.batch_med(n, nm), nseed, ndup), stems, strengths, forms) as pack,
           pg_temp.batch_received(s, n, as_of) as recv,
           5 + (pg_temp.h(s, 'mb.q', n) %% 96)::int as q_packs,
           0.1 + 0.9 * pg_temp.r(s, 'mb.left', n) as left_share,
           5 + (pg_temp.h(s, 'drug.mrp', pg_temp.med_drug(pg_temp.batch_med(n, nm), nseed, ndup)) %% 400)::int as mrp,
           pg_temp.hit(s, 'orphan_fk', n, (rt->>'orphan_fk')::float8, nb) as orphan,
           case when pg_temp.hit(s, 'batch_fk_split', n, (rt->>'batch_fk_split')::float8, nb)
                then 1 + (pg_temp.h(s, 'mb.split', n) %% 2)::int else 0 end as split
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
q as (
    select b.*,
           case when recv < packs_until then q_packs else q_packs * pack end as received,
           recv + (365 + pg_temp.h(s, 'mb.exp', n) %% 730)::int - case when pg_temp.r(s, 'mb.expd', n) < 0.05 then 800 else 0 end as expiry
    from b
    offset 0
)
insert into medicine_batches (id, medicine_id, medication_id, purchase_id, batch_number, manufacturing_date, expiry_date,
    received_date, received_quantity, current_quantity, purchase_price, selling_price, supplier_id, supplier_name,
    supplier_batch_id, status, is_active, edited, verified, legacy_code, notes, created_at, updated_at)
select pg_temp.uid(s, 'medicine_batches', n),
       case when orphan then null when split = 2 then null else pg_temp.uid(s, 'medications', m) end,
       case when orphan then pg_temp.uid(s, 'medications_lost', n) when split = 1 then null else pg_temp.uid(s, 'medications', m) end,
       pg_temp.uid(s, 'purchase', n),
       pg_temp.batch_no_of(s, bj),
       recv - (30 + pg_temp.h(s, 'mb.mfg', n) %% 300)::int,
       expiry,
       recv,
       received,
       floor(received * left_share)::int,
       round(mrp * 0.7, 2),
       mrp,
       null::uuid,
       case when pg_temp.r(s, 'mb.supc', n) < 0.2 then upper(pg_temp.pick(sup, s, 'mb.sup', n)) else pg_temp.pick(sup, s, 'mb.sup', n) end,
       case when pg_temp.r(s, 'mb.sbi', n) < 0.3 then 'SB' || (pg_temp.h(s, 'mb.sbv', n) %% 100000)::text end,
       case when expiry < as_of then 'expired' when floor(received * left_share) < 10 then 'low_stock' else 'active' end,
       expiry >= as_of,
       pg_temp.r(s, 'mb.ed', n) < 0.05,
       pg_temp.r(s, 'mb.ver', n) < 0.5,
       null,
       case when pg_temp.r(s, 'mb.pur', n) < 0.5 then 'PUR-' || to_char(recv, 'YYYYMMDD') || '-' || lpad((n %% 10000)::text, 4, '0') || ' | ' else '' end
           || 'pack of ' || pack,
       pg_temp.at(recv, 0.3),
       pg_temp.at(recv, 0.3)
from q
