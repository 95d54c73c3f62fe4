-- prescription_items: 1..n drugs per prescription with free-text dosing ('08:00, 20:00 (2x daily)',
-- '<n> days', instructions folding meal timing with ' | '); medication_name is a copy of the name.
with p as (select %(seed)s::bigint s, %(nm)s::bigint nm, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(nrx)s::bigint nrx,
                  %(rx_fan)s::float8 fan, %(rates)s::jsonb rt, %(frequencies)s::text[] freq, %(meal_timing)s::text[] meal,
                  %(unknown_statuses)s::text[] unk),
i as (
    select p.*, r, j, pg_temp.rx_med(s, r, j, nm) as m, r * 100 + j as k
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) r, generate_series(1, pg_temp.rx_nitems(p.s, r, p.fan)) j
    offset 0
),
x as (
    select i.*, md.name, md.selling_price, rx.created_at, rx.status as rx_status,
           (1 + pg_temp.h(s, 'rxi.q', k) %% 30)::int as qty,
           pg_temp.pick(freq, s, 'rxi.freq', k) as frequency
    from i
    join medications md on md.id = pg_temp.uid(s, 'medications', m)
    join prescriptions rx on rx.id = pg_temp.uid(s, 'prescriptions', r)
    offset 0
)
insert into prescription_items (id, prescription_id, medication_id, medication_name, dosage, frequency, duration, quantity,
    instructions, unit_price, total_price, status, dispensed_quantity, remaining_quantity, dispensed_date, dispensed_by,
    billing_acknowledged, billing_acknowledged_by, billing_acknowledged_at, billing_edited, billing_last_edited_by,
    billing_last_edited_at, created_at, updated_at)
select pg_temp.uid(s, 'prescription_items', k),
       pg_temp.uid(s, 'prescriptions', r),
       pg_temp.uid(s, 'medications', m),
       case when pg_temp.r(s, 'rxi.nm', k) < 0.2 then lower(name) else name end,
       (array['1 tab', '1/2 tab', '2 tabs', '5 ml', '10 ml', '1 cap', '1 amp'])[1 + (pg_temp.h(s, 'rxi.dose', k) %% 7)::int],
       frequency,
       (1 + pg_temp.h(s, 'rxi.dur', k) %% 14)::text || ' days',
       qty,
       (array['Take regularly', 'If needed', 'Do not skip'])[1 + (pg_temp.h(s, 'rxi.ins', k) %% 3)::int]
           || ' | Meal timing: ' || pg_temp.pick(meal, s, 'rxi.meal', k) || ' | Frequency: ' || frequency,
       selling_price,
       round(qty * selling_price, 2),
       case when pg_temp.hit(s, 'unknown_status', k, (rt->>'unknown_status')::float8, nrx * 100) and j = 1
                 then pg_temp.pick(unk, s, 'rxi.unk', k)
            when rx_status = 'dispensed' then 'dispensed' when rx_status = 'cancelled' then 'cancelled'
            else (array['pending', 'dispensed', 'partial'])[1 + (pg_temp.h(s, 'rxi.st', k) %% 3)::int] end,
       case when rx_status = 'dispensed' then qty else 0 end,
       case when rx_status = 'dispensed' then 0 else qty end,
       case when rx_status = 'dispensed' then created_at + interval '1 hour' end,
       case when rx_status = 'dispensed' then pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'rxi.by', k, nsu)) end,
       pg_temp.r(s, 'rxi.ack', k) < 0.3,
       case when pg_temp.r(s, 'rxi.ack', k) < 0.3 then pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'rxi.ackby', k, nsu)) end,
       case when pg_temp.r(s, 'rxi.ack', k) < 0.3 then created_at + interval '2 hours' end,
       pg_temp.r(s, 'rxi.ed', k) < 0.05,
       case when pg_temp.r(s, 'rxi.ed', k) < 0.05 then pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'rxi.edby', k, nsu)) end,
       case when pg_temp.r(s, 'rxi.ed', k) < 0.05 then created_at + interval '3 hours' end,
       created_at,
       created_at
from x
