-- lab_reports (blueprint profile only): the JSONB variant; results is an array of
-- {parameter, value, unit} per analyte of the panel, with unparseable values and dropped units.
-- About a fifth of completed reports are stored normalized instead (results NULL, rows in
-- lab_result_value); pending/cancelled reports have no results.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(na)s::bigint na,
                  %(nipe)s::bigint nipe, %(nlabe)s::bigint nlabe, %(nlab)s::bigint nlab, %(as_of)s::date as_of,
                  %(span)s::int span, %(rates)s::jsonb rt, %(lab_tests)s::text[] lt, %(lab_defs)s::text[] ld),
l as (
    select p.*, n,
           pg_temp.pin(s, 'lab_unparseable_value', nlab) as pin_unp,
           pg_temp.pin(s, 'lab_missing_unit', nlab) as pin_unit,
           (rt->>'lab_unparseable_value')::float8 as r_unp,
           (rt->>'lab_missing_unit')::float8 as r_unit,
           na + nipe + pg_temp.ri(s, 'lab.enc', n, nlabe) as e
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
l2 as (
    select l.*,
           -- pinned reports are completed blood counts (every analyte has a unit)
           case when n in (pin_unp, pin_unit) then 1 else pg_temp.ri(s, 'lab.panel', n, cardinality(lt))::int end as panel,
           case when n in (pin_unp, pin_unit) or pg_temp.r(s, 'lab.st', n) < 0.8 then 'completed'
                when pg_temp.r(s, 'lab.st', n) < 0.85 then 'in_progress'
                when pg_temp.r(s, 'lab.st', n) < 0.95 then 'pending' else 'cancelled' end as status
    from l
    offset 0
),
m as (
    select l2.*,
           -- pinned reports always carry their JSON results
           status in ('completed', 'in_progress') and (n in (pin_unp, pin_unit) or pg_temp.r(s, 'lab.norm', n) >= 0.2) as has_json,
           pg_temp.enc_start(s, e, np, as_of, span) as t0
    from l2
    offset 0
)
insert into lab_reports (id, patient_id, doctor_id, test_name, test_type, sample_collected_date, report_date, results,
                         normal_ranges, status, technician_id, verified_by, notes, created_at, updated_at)
select pg_temp.uid(s, 'lab_reports', n),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np)),
       case when pg_temp.r(s, 'lab.doc', n) < 0.7 then pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'lab.docv', n, nd)) end,
       lt[panel],
       case when lt[panel] like 'Urine%%' then 'Clinical Pathology' else 'Biochemistry' end,
       t0,
       case when status = 'completed' then t0 + interval '1 day' end,
       case when has_json then (
           select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                      'parameter', split_part(a, ':', 1),
                      'value', pg_temp.lab_value(s, n, i, a, r_unp, pin_unp),
                      'unit', case when split_part(a, ':', 2) <> '' and not pg_temp.lab_unit_missing(s, n, i, r_unit, pin_unit)
                                   then split_part(a, ':', 2) end)) order by i)
           from unnest(string_to_array(ld[panel], ';')) with ordinality x(a, i)) end,
       case when has_json then (
           select jsonb_object_agg(split_part(a, ':', 1), split_part(a, ':', 3) || '-' || split_part(a, ':', 4))
           from unnest(string_to_array(ld[panel], ';')) x(a)) end,
       status,
       pg_temp.uid(s, 'users', nd + pg_temp.ri(s, 'lab.tech', n, nsu)),
       case when status = 'completed' and pg_temp.r(s, 'lab.ver', n) < 0.6 then pg_temp.uid(s, 'users', pg_temp.ri(s, 'lab.verv', n, nd)) end,
       case when pg_temp.r(s, 'lab.note', n) < 0.05 then 'Sample re-collected' end,
       t0,
       t0
from m
