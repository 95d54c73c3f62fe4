with p as (select %(seed)s::bigint s, %(nd)s::bigint nd, %(nmh)s::bigint nmh, %(rates)s::jsonb rt,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'free_text_doctor', 'medical_history', t.id::text, 'LOAD_WITH_WARN', 'FREE_TEXT_REF',
       jsonb_build_object('column', 'doctor_name', 'value', t.doctor_name,
                          'doctor_id', pg_temp.uid(p.s, 'doctors', pg_temp.ri(p.s, 'mh.docd', n, p.nd)),
                          'canonical', pg_temp.doctor_name(p.s, pg_temp.ri(p.s, 'mh.docd', n, p.nd), p.fm, p.ff, p.ln))
from p cross join generate_series(1, p.nmh) n
join medical_history t on t.id = pg_temp.uid(p.s, 'medical_history', n)
where pg_temp.hit(p.s, 'free_text_doctor', n, (p.rt->>'free_text_doctor')::float8, p.nmh)
