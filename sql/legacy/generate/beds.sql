-- beds: 12 live (scaled for larger hospitals), 'B-<floor>-<nn>'
with p as (select %(seed)s::bigint s, %(nbeds)s::bigint nbeds, %(as_of)s::date as_of, %(span)s::int span)
insert into beds (id, bed_number, room_number, department_id, bed_type, floor_number, daily_rate, status, features,
                  created_at, updated_at)
select pg_temp.uid(s, 'beds', n),
       'B-' || (1 + n %% 4)::text || '-' || pg_temp.pad(n, 3),
       (100 * (1 + n %% 4) + n / 4)::text,
       pg_temp.uid(s, 'departments', 15),
       (array['general', 'general', 'general', 'semi_private', 'private', 'icu', 'emergency'])[1 + (pg_temp.h(s, 'bed.type', n) %% 7)::int],
       (1 + n %% 4)::int,
       (array[1500, 1500, 1500, 3000, 5000, 9000, 2000])[1 + (pg_temp.h(s, 'bed.type', n) %% 7)::int],
       (array['available', 'occupied', 'occupied', 'maintenance', 'reserved', 'available'])[1 + (pg_temp.h(s, 'bed.st', n) %% 6)::int],
       case when pg_temp.r(s, 'bed.f', n) < 0.5 then array['oxygen', 'monitor'] else array['oxygen'] end,
       pg_temp.at(as_of - span - 5, 0.3), pg_temp.at(as_of - span - 5, 0.3)
from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
