-- bed_allocations: the real IP admissions (contract defects 25, 27): admission/discharge dates are
-- IST wall clock stored as UTC; ip_number in two formats; admission_type outside both documented
-- CHECKs; a transfer closes the row ('transferred', reason overwritten) and opens a second one.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(ns)s::bigint ns, %(na)s::bigint na,
                  %(nipe)s::bigint nipe, %(nbeds)s::bigint nbeds, %(as_of)s::date as_of, %(span)s::int span,
                  %(rates)s::jsonb rt, %(admission_reasons)s::text[] ar, %(discharge_reasons)s::text[] dr),
b as (
    select p.*, n, na + n as e,
           pg_temp.enc_start(s, na + n, np, as_of, span) as t0,
           1 + (pg_temp.h(s, 'ba.days', n) %% 9)::int as days,
           pg_temp.r(s, 'ba.transfer', n) < 0.15 as transfer,
           pg_temp.r(s, 'ba.st', n) as u
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
k as (
    select b.*, k,
           case when k = 1 then t0 else t0 + days * interval '1 day' end as t_in,
           case when k = 1 and transfer then t0 + days * interval '1 day'
                when (k = 2 or not transfer) and u < 0.8 and t0 + (days + 3) * interval '1 day' < (as_of::timestamp at time zone 'UTC')
                     then t0 + (days + 3) * interval '1 day' end as t_out,
           pg_temp.ri(s, 'ba.bed', n * 10 + k, nbeds) as bed
    from b cross join lateral generate_series(1, case when b.transfer then 2 else 1 end) k
    offset 0
)
insert into bed_allocations (id, bed_id, patient_id, doctor_id, encounter_id, reason_id, staff_id, ip_number,
    admission_date, discharge_date, admission_type, reason, status, notes, daily_charges, total_charges,
    bed_charges_acknowledged, bed_charges_acknowledged_by, bed_charges_acknowledged_at, bed_charges_edited,
    bed_charges_last_edited_by, bed_charges_last_edited_at, created_at, updated_at, registration_type)
select pg_temp.uid(s, 'bed_allocations', case when k = 1 then n else nipe + n end),
       pg_temp.uid(s, 'beds', bed),
       pg_temp.uid(s, 'patients', pg_temp.enc_patient(s, e, np)),
       pg_temp.uid(s, 'doctors', pg_temp.ri(s, 'ba.doc', n, nd)),
       pg_temp.uid(s, 'encounter', e),
       case when pg_temp.r(s, 'ba.rid', n) < 0.5 then pg_temp.uid(s, 'ref_code', case when k = 2 then 2 else 1 end) end,
       case when pg_temp.r(s, 'ba.stf', n) < 0.5 then pg_temp.uid(s, 'staff', pg_temp.ri(s, 'ba.stfv', n, ns)) end,
       case when k = 2 then null
            when n < 10000 and pg_temp.hit(s, 'ip_number_format', n, (rt->>'ip_number_format')::float8, nipe)
                 then 'IP' || to_char(t0, 'YY') || pg_temp.pad(n, 2)
            else 'IP' || to_char(t0, 'YYMM') || pg_temp.pad(n, 4) end,
       pg_temp.ist_as_utc(t_in),
       pg_temp.ist_as_utc(t_out),
       case when k = 2 then 'transfer'
            when pg_temp.hit(s, 'admission_type_unknown', n, (rt->>'admission_type_unknown')::float8, nipe)
                 then (array['inpatient', 'outpatient', 'referred'])[1 + (pg_temp.h(s, 'ba.atu', n) %% 3)::int]
            else (array['emergency', 'elective', 'scheduled', 'transfer'])[1 + (pg_temp.h(s, 'ba.at', n) %% 4)::int] end,
       case when k = 1 and transfer then 'Transferred to ICU'
            when t_out is not null then pg_temp.pick(dr, s, 'ba.dr', n)
            else pg_temp.pick(ar, s, 'ba.ar', n) end,
       case when k = 1 and transfer then 'transferred' when t_out is not null then 'discharged' else 'active' end,
       null,
       (array[1500, 3000, 5000, 9000])[1 + (pg_temp.h(s, 'ba.rate', n * 10 + k) %% 4)::int],
       case when t_out is not null then round(extract(epoch from t_out - t_in)::numeric / 86400) * (array[1500, 3000, 5000, 9000])[1 + (pg_temp.h(s, 'ba.rate', n * 10 + k) %% 4)::int] end,
       pg_temp.r(s, 'ba.ack', n) < 0.4, null, null, false, null, null,
       t_in, t_in,
       case when pg_temp.r(s, 'ba.obs', n) < 0.1 then 'observation' else 'admission' end
from k
