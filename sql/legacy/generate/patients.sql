-- patients: the wide 71-column row (contract defects 10, 19, 20, 21, 25): UHID AH{YY}{MM}-{NNNN}
-- in registration order, fabricated names/emails, TEXT vitals and money, free-text consulting
-- doctor names, admission_date as IST wall clock stored as UTC. A duplicate patient repeats an
-- earlier patient's person (name, phone, date of birth) under a new UHID.
with p as (select %(seed)s::bigint s, %(np)s::bigint np, %(nd)s::bigint nd, %(nsu)s::bigint nsu, %(npl)s::bigint npl,
                  %(as_of)s::date as_of, %(span)s::int span, %(rates)s::jsonb rt,
                  %(first_m)s::text[] fm, %(first_f)s::text[] ff, %(last)s::text[] ln, %(streets)s::text[] st,
                  %(cities)s::text[] ci, %(states)s::text[] sta, %(relations)s::text[] rel, %(blood)s::text[] bg,
                  %(allergies)s::text[] alg, %(conditions)s::text[] cond, %(symptoms)s::text[] sym,
                  %(diagnoses)s::text[] dia, %(unp_vitals)s::text[] unp),
k as (
    select p.*, n,
           pg_temp.pat_person(s, n, (rt->>'duplicate_patient')::float8, np) as q,
           pg_temp.uhid(n, np, as_of, span) as uhid,
           pg_temp.reg_at(s, n, np, as_of, span) as reg,
           (rt->>'text_vitals_unparseable')::float8 / 4 as r_unp,
           (rt->>'text_vitals_out_of_range')::float8 / 4 as r_oor,
           case when (rt->>'text_vitals_unparseable')::float8 > 0 then pg_temp.pin(s, 'text_vitals_unparseable', np) else 0 end as pin_unp,
           case when (rt->>'text_vitals_out_of_range')::float8 > 0 then pg_temp.pin(s, 'text_vitals_out_of_range', np) else 0 end as pin_oor,
           case when (rt->>'text_money')::float8 > 0 then pg_temp.pin(s, 'text_money', np) else 0 end as pin_money,
           pg_temp.ri(s, 'pat.doc', n, nd) as doc,
           pg_temp.r(s, 'pat.adm', n) as u_adm,
           -- the patient's login, if any (users rows nd+nsu+1.., see users.sql)
           ((n - 1) * npl + np - 1) / np + 1 as login_j
    from p, generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    offset 0
),
a as (
    select k.*,
           pg_temp.sex(s, 'pat', q) as sex,
           pg_temp.first_name(s, 'pat', q, fm, ff) || ' ' || pg_temp.last_name(s, 'pat', q, ln) as person_name,
           (1 + pg_temp.h(s, 'pat.age', q) %% 88)::int as age0,
           n = pin_unp or n = pin_oor or pg_temp.r(s, 'pat.hasv', n) < 0.7 as has_v,
           pg_temp.r(s, 'pat.tu', n) < 0.8 as fahrenheit,
           (140 + pg_temp.h(s, 'pat.ht', q) %% 46)::int as ht,
           round((35 + pg_temp.r(s, 'pat.wt', n) * 60)::numeric, 1) as wt,
           case when u_adm < 0.85 then 'outpatient' when u_adm < 0.91 then 'inpatient' when u_adm < 0.96 then 'emergency'
                when u_adm < 0.98 then 'referred' when u_adm < 0.99 then 'elective' else 'transfer' end as adm_type,
           case when pg_temp.hit(s, 'free_text_doctor', n, (rt->>'free_text_doctor')::float8, np)
                then 1 + (pg_temp.h(s, 'pat.docv', n) %% 4)::int else 0 end as doc_v,
           (array[100, 150, 200])[1 + (pg_temp.h(s, 'pat.opc', n) %% 3)::int] as op_card,
           pg_temp.first_name(s, 'doc', doc, fm, ff) as doc_first,
           pg_temp.last_name(s, 'doc', doc, ln) as doc_last,
           (array[300, 400, 500, 600, 800])[1 + (pg_temp.h(s, 'pat.cf', n) %% 5)::int] as cfee
    from k
    offset 0
)
insert into patients (id, patient_id, name, date_of_birth, age, gender, marital_status, blood_group, phone, email,
    address, place, alternate_phone, city, state, pincode, emergency_contact_name, emergency_contact_phone,
    emergency_contact_relationship, guardian_name, guardian_relationship, guardian_phone, guardian_address,
    allergies, medical_history, current_medications, chronic_conditions, previous_surgeries, initial_symptoms,
    primary_complaint, diagnosis, height, weight, bmi, temperature, temp_unit, bp_systolic, bp_diastolic, pulse,
    spo2, respiratory_rate, random_blood_sugar, vital_notes, admission_date, admission_time, admission_type,
    referring_doctor_facility, referred_by, department_ward, room_number, consulting_doctor_id,
    consulting_doctor_name, is_admitted, is_critical, op_card_amount, consultation_fee, total_amount, payment_mode,
    advance_amount, advance_payment_method, advance_payment_date, advance_reference_number, advance_notes,
    insurance_number, insurance_provider, status, registration_status, user_id, staff_id, created_at, updated_at)
select pg_temp.uid(s, 'patients', n),
       uhid,
       case when pg_temp.hit(s, 'fabricated_name', n, (rt->>'fabricated_name')::float8, np) then 'Patient ' || uhid
            when q <> n and pg_temp.h(s, 'pat.dupfmt', n) %% 3 = 0 then upper(person_name)
            when q <> n and pg_temp.h(s, 'pat.dupfmt', n) %% 3 = 1 then replace(person_name, ' ', '  ')
            else person_name end,
       case when pg_temp.hit(s, 'future_date', n, (rt->>'future_date')::float8, np) then as_of + (1 + pg_temp.h(s, 'pat.fut', n) %% 300)::int
            when pg_temp.r(s, 'pat.nodob', q) < 0.3 then null
            else as_of - (age0 * 365.25)::int - (pg_temp.h(s, 'pat.dobd', q) %% 365)::int end,
       case when pg_temp.hit(s, 'future_date', n, (rt->>'future_date')::float8, np) then null else age0 end,
       sex,
       case when age0 < 21 then 'single' else (array['married', 'married', 'married', 'single', 'widowed', 'divorced', 'separated'])[1 + (pg_temp.h(s, 'pat.ms', q) %% 7)::int] end,
       case when pg_temp.r(s, 'pat.bgn', n) < 0.6 then pg_temp.pick(bg, s, 'pat.bg', q) end,
       case pg_temp.h(s, 'pat.phf', n) %% 5 when 0 then '+91 ' || pg_temp.mobile(s, 'pat', q) when 1 then '+91-' || pg_temp.mobile(s, 'pat', q)
            else pg_temp.mobile(s, 'pat', q) end,
       case when pg_temp.hit(s, 'fabricated_email', n, (rt->>'fabricated_email')::float8, np) then uhid || '@annam.com'
            else lower(split_part(person_name, ' ', 1)) || (pg_temp.h(s, 'pat.em', q) %% 1000)::text || '@gmail.com' end,
       (1 + pg_temp.h(s, 'pat.door', q) %% 400)::text || ', ' || pg_temp.pick(st, s, 'pat.st', q),
       pg_temp.pick(ci, s, 'pat.ci', q),
       case when pg_temp.r(s, 'pat.alt', n) < 0.2 then pg_temp.mobile(s, 'alt', n) end,
       ci[1 + (pg_temp.h(s, 'pat.ci', q) %% cardinality(ci))::int],
       sta[1 + (pg_temp.h(s, 'pat.ci', q) %% cardinality(ci))::int],
       (600000 + pg_temp.h(s, 'pat.pin', q) %% 99999)::text,
       pg_temp.first_name(s, 'emc', q, fm, ff) || ' ' || pg_temp.last_name(s, 'pat', q, ln),
       pg_temp.mobile(s, 'emc', q),
       pg_temp.pick(rel, s, 'pat.rel', q),
       case when age0 < 18 then pg_temp.first_name(s, 'grd', q, fm, ff) || ' ' || pg_temp.last_name(s, 'pat', q, ln) end,
       case when age0 < 18 then 'Father' end,
       case when age0 < 18 then pg_temp.mobile(s, 'grd', q) end,
       null,
       case when pg_temp.r(s, 'pat.alg', n) < 0.6 then pg_temp.pick(alg, s, 'pat.algv', n) end,
       case when pg_temp.r(s, 'pat.mh', n) < 0.3 then pg_temp.pick(cond, s, 'pat.mhv', n) end,
       case when pg_temp.r(s, 'pat.cm', n) < 0.2 then 'Tab Metformin 500mg BD, Tab Telma 40mg OD' end,
       case when pg_temp.r(s, 'pat.cc', n) < 0.25 then pg_temp.pick(cond, s, 'pat.ccv', n) end,
       case when pg_temp.r(s, 'pat.ps', n) < 0.1 then (array['Appendectomy', 'LSCS', 'Cholecystectomy', 'Hernia repair'])[1 + (pg_temp.h(s, 'pat.psv', n) %% 4)::int] end,
       case when pg_temp.r(s, 'pat.is', n) < 0.7 then pg_temp.pick(sym, s, 'pat.isv', n) || case when pg_temp.r(s, 'pat.is2', n) < 0.4 then ', ' || pg_temp.pick(sym, s, 'pat.isv2', n) else '' end end,
       case when pg_temp.r(s, 'pat.pc', n) < 0.6 then pg_temp.pick(sym, s, 'pat.pcv', n) || ' for ' || (1 + pg_temp.h(s, 'pat.pcd', n) %% 10) || ' days' end,
       case when pg_temp.r(s, 'pat.dx', n) < 0.5 then pg_temp.pick(dia, s, 'pat.dxv', n) end,
       -- TEXT vitals
       case when has_v then pg_temp.vtext(s, 'height', n, ht::text, (ht * 10)::text, r_unp, r_oor, 0, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'weight', n, wt::text, '0', r_unp, r_oor, 0, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'bmi', n, round(wt / ((ht / 100.0) ^ 2)::numeric, 1)::text, '245', r_unp, r_oor, 0, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'temperature', n,
                case when fahrenheit then round((97 + pg_temp.r(s, 'pat.tmp', n) * 4.5)::numeric, 1)::text
                     else round((36.1 + pg_temp.r(s, 'pat.tmp', n) * 2.5)::numeric, 1)::text end,
                case when fahrenheit then '986' else '370' end, r_unp, r_oor, 0, 0, unp) end,
       case when has_v then case when fahrenheit then (array['F', 'F', '°F'])[1 + (pg_temp.h(s, 'pat.tuf', n) %% 3)::int] else 'C' end end,
       case when has_v then pg_temp.vtext(s, 'bp_systolic', n, (95 + pg_temp.h(s, 'pat.sys', n) %% 76)::text, '1200', r_unp, r_oor, 0, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'bp_diastolic', n, (60 + pg_temp.h(s, 'pat.dia', n) %% 46)::text, '8', r_unp, r_oor, 0, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'pulse', n, (58 + pg_temp.h(s, 'pat.pul', n) %% 63)::text, '400', r_unp, r_oor, pin_unp, 0, unp) end,
       case when has_v then pg_temp.vtext(s, 'spo2', n, (90 + pg_temp.h(s, 'pat.spo', n) %% 11)::text, '150', r_unp, r_oor, 0, pin_oor, unp) end,
       case when has_v and pg_temp.r(s, 'pat.rrn', n) < 0.6 then pg_temp.vtext(s, 'respiratory_rate', n, (12 + pg_temp.h(s, 'pat.rr', n) %% 13)::text, '99', r_unp, r_oor, 0, 0, unp) end,
       case when has_v and pg_temp.r(s, 'pat.rbsn', n) < 0.4 then pg_temp.vtext(s, 'random_blood_sugar', n, (70 + pg_temp.h(s, 'pat.rbs', n) %% 231)::text, '9999', r_unp, r_oor, 0, 0, unp) end,
       case when has_v and pg_temp.r(s, 'pat.vn', n) < 0.1 then 'Patient anxious, recheck BP' end,
       -- admission: IST wall clock stored as UTC (contract defect 25)
       case when adm_type <> 'outpatient' or pg_temp.r(s, 'pat.admd', n) < 0.5 then pg_temp.ist_as_utc(reg) end,
       case when adm_type <> 'outpatient' or pg_temp.r(s, 'pat.admd', n) < 0.5 then (reg at time zone 'Asia/Kolkata')::time(0) end,
       adm_type,
       case when adm_type = 'referred' then 'PHC ' || pg_temp.pick(ci, s, 'pat.refc', n) end,
       case when adm_type = 'referred' then 'Dr. ' || pg_temp.first_name(s, 'ref', n, fm, ff) end,
       case when adm_type in ('inpatient', 'emergency') then (array['General Ward', 'ICU', 'Private', 'Casualty'])[1 + (pg_temp.h(s, 'pat.ward', n) %% 4)::int] end,
       case when adm_type in ('inpatient', 'emergency') then (100 + pg_temp.h(s, 'pat.room', n) %% 300)::text end,
       case when pg_temp.r(s, 'pat.docid', n) < 0.25 then null else pg_temp.uid(s, 'doctors', doc) end,
       case when pg_temp.r(s, 'pat.docn', n) < 0.9 or doc_v > 0 then pg_temp.name_variant(doc_first, doc_last, doc_v) end,
       adm_type = 'inpatient' and pg_temp.r(s, 'pat.isadm', n) < 0.3,
       pg_temp.r(s, 'pat.crit', n) < 0.02,
       pg_temp.mtext(s, 'op_card_amount', n, op_card, (rt->>'text_money')::float8, pin_money),
       pg_temp.mtext(s, 'consultation_fee', n, cfee, (rt->>'text_money')::float8, 0),
       pg_temp.mtext(s, 'total_amount', n, op_card + cfee, (rt->>'text_money')::float8, 0),
       (array['Cash', 'cash', 'UPI', 'Card', 'upi'])[1 + (pg_temp.h(s, 'pat.pm', n) %% 5)::int],
       case when adm_type = 'inpatient' and pg_temp.r(s, 'pat.adv', n) < 0.5 then (1000 * (1 + pg_temp.h(s, 'pat.adva', n) %% 20))::numeric else 0 end,
       case when adm_type = 'inpatient' and pg_temp.r(s, 'pat.adv', n) < 0.5 then (array['cash', 'upi', 'card'])[1 + (pg_temp.h(s, 'pat.advm', n) %% 3)::int] end,
       case when adm_type = 'inpatient' and pg_temp.r(s, 'pat.adv', n) < 0.5 then reg + interval '20 minutes' end,
       case when adm_type = 'inpatient' and pg_temp.r(s, 'pat.adv', n) < 0.5 then 'ADV' || pg_temp.pad(n, 6) end,
       null,
       case when pg_temp.r(s, 'pat.ins', n) < 0.1 then 'POL' || (10000000 + pg_temp.h(s, 'pat.insn', n) %% 89999999)::text end,
       case when pg_temp.r(s, 'pat.ins', n) < 0.1 then (array['Star Health', 'CMCHIS', 'ICICI Lombard', 'New India Assurance'])[1 + (pg_temp.h(s, 'pat.insp', n) %% 4)::int] end,
       case when pg_temp.r(s, 'pat.st', n) < 0.003 then 'deceased' when pg_temp.r(s, 'pat.st', n) < 0.02 then 'inactive' else 'active' end,
       'completed',
       case when login_j <= npl and 1 + ((login_j - 1) * np) / npl = n then pg_temp.uid(s, 'users', nd + nsu + login_j) end,
       null::uuid,
       reg,
       reg
from a
