-- compat write path: patients (register = INSERT, demographics / vitals on the wide row = UPDATE,
-- DELETE). Called by compat.dispatch() after the dual write into the archive and the kept store.
-- Applies one legacy patients row to the canonical tables with the rules of the backfill:
--   * core.persons (sql/core/persons.sql): name split (fabricated 'Patient <UHID>' -> NULL), dob (a
--     dob after the registration date -> NULL), sex by ref.codes 'map:patients.gender', phone
--     E.164, e-mail normalized (fabricated '<UHID>@annam.com' -> NULL), address jsonb.
--     A new registration of a person already registered (same etl.norm_name, same 10-digit mobile,
--     same dob; not a fabricated name) is MERGED into that earlier registration's person and patient,
--     as the backfill's duplicate rule does (the earlier row survives).
--   * core.patients (sql/core/patients.sql): id from the person id, uhid = patient_id.
--   * clinical.encounters '<key>#inferred' (sql/clinical/encounters.sql): when the row holds TEXT
--     vitals or complaint/symptom items, attached (MERGED) to the patient's encounter in progress
--     at admission_date + admission_time (IST wall clock), else created_at; else a point encounter
--     is inferred (LOADED), type by ref.codes 'map:patients.admission_type'.
--   * clinical.vitals '<key>#<kind>' (sql/clinical/vitals.sql): per value; a value that is not a
--     plain number or out of range is quarantined (UNPARSEABLE_VALUE / OUT_OF_RANGE, no value in
--     detail) and its earlier canonical value soft-deleted, the row's other values still apply.
--   * clinical.allergies / medical_history / symptoms '<key>#<column>#<n>': the items of the
--     free-text lists (etl.text_items).
--   Items, vitals and the inferred encounter the row no longer gives are soft-deleted and unmapped.
--   * billing.charges '<key>#consultation_fee' / '#op_card_amount' (sql/billing/charges.sql): a fee
--     the text states (etl.billing_fee_text_says, read by etl.try_money) is one charge of qty 1 on
--     the registration's encounter (else the patient's first), fee DERIVED.CONSULTATION / OP_CARD;
--     unreadable / negative / out of range / no encounter: quarantined. A consultation fee carried
--     by a bill (the first live Consultation-category charge invoiced to the patient, by the line's
--     legacy table and key) is MERGED into that charge (CARRIED_BY_BILL), never charged twice.
-- Not applied (documented gaps): the carrier is looked up by the canonical patient, for the
-- registration that owns the patient only (the backfill uses the bill's legacy patient row; a
-- duplicate registration's bills cannot be told from the survivor's in canonical, so a MERGED
-- registration's fee is charged on its own);
-- an UPDATE never merges a registration into
-- another person (only a new registration is matched), and an update of a MERGED duplicate that no
-- longer matches its survivor splits it into a person and patient of its own.
-- Raises (the dispatcher quarantines the write) naming table, rule and column, never a value.
-- The legacy columns the write path reads, typed (the archived table's own row type depends on
-- where the archive lives).
do $$
begin
    if to_regtype('compat.patients_row') is null then
        create type compat.patients_row as (
            patient_id text, name text, date_of_birth date, gender text, phone text, email text,
            address text, place text, city text, state text, pincode text,
            allergies text, medical_history text, chronic_conditions text, previous_surgeries text,
            initial_symptoms text, primary_complaint text,
            height text, weight text, bmi text, temperature text, temp_unit text, bp_systolic text,
            bp_diastolic text, pulse text, spo2 text, respiratory_rate text, random_blood_sugar text,
            admission_date timestamptz, admission_time time, admission_type text, created_at timestamptz);
    end if;
end
$$;

create or replace function compat.apply_patients(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_tz text;
    v_facility uuid := etl.canonical_id('core.facilities', 'settings', 'facility');
    r record;
    v_person uuid;
    v_patient uuid;
    v_disp text;
    v_fab_name boolean;
    v_fab_email boolean;
    v_norm_name text;
    v_mobile text;
    v_clean_name text;
    v_t timestamptz;
    v_enc uuid;
    v_enc_disp text;
    v_own_enc uuid := etl.canonical_id('clinical.encounters', 'patients', p_key || '#inferred');
    v_has_records boolean;
    v_type text;
    v_keys text[];
    v_bad text[] := array[]::text[];
    v_item_key text;
    v_id uuid;
    v_reason text;
    v_charge_enc uuid;
    v_carrier uuid;
    c record;
begin
    if p_op = 'DELETE' then
        -- a duplicate registration only leaves the map; an owner's canonical rows are soft-deleted
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'patients' and m.legacy_key = p_key and m.disposition = 'MERGED'
           and m.canonical_table in ('core.persons', 'core.patients');
        update core.patients as p set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.patients' and m.legacy_table = 'patients' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and p.patient_id = m.canonical_id and p.deleted_at is null;
        update core.persons as p set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'core.persons' and m.legacy_table = 'patients' and m.legacy_key = p_key
           and m.disposition = 'LOADED' and p.person_id = m.canonical_id and p.deleted_at is null;
        update billing.charges as x set deleted_at = now(), updated_by = 'compat'
          from ops.legacy_id_map as m
         where m.canonical_table = 'billing.charges' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
           and m.disposition = 'LOADED' and x.charge_id = m.canonical_id and x.deleted_at is null;
        delete from ops.legacy_id_map as m
         where m.canonical_table = 'billing.charges' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
           and m.disposition = 'MERGED';
        perform compat.patients_retire(p_key, array[]::text[], true);
        return;
    end if;

    select f.timezone into v_tz from core.facilities as f where f.facility_id = v_facility;
    v_tz := coalesce(v_tz, 'Asia/Kolkata');
    r := jsonb_populate_record(null::compat.patients_row, p_new);

    if nullif(btrim(r.patient_id), '') is null then
        raise exception 'compat patients: rule MISSING_VALUE, column patient_id (a patient needs a UHID)'
            using errcode = 'HM002', column = 'patient_id';
    end if;
    if r.name is null then
        raise exception 'compat patients: rule MISSING_VALUE, column name' using errcode = 'HM002', column = 'name';
    end if;
    r.created_at := coalesce(r.created_at, now());

    v_fab_name := r.name ~* '^patient\s';
    v_fab_email := etl.norm_email(r.email) = lower(r.patient_id) || '@annam.com';
    v_norm_name := etl.norm_name(r.name);
    v_mobile := etl.norm_mobile(r.phone);
    v_clean_name := regexp_replace(trim(r.name), '\s+', ' ', 'g');

    -- === person and patient ======================================================================
    select m.canonical_id, m.disposition into v_person, v_disp
      from ops.legacy_id_map as m
     where m.canonical_table = 'core.persons' and m.legacy_table = 'patients' and m.legacy_key = p_key;

    if v_disp = 'MERGED' then
        -- still the same person as its survivor? (survivor's identity as canonical holds it)
        if v_fab_name or v_norm_name is null or length(v_mobile) < 10 or not exists (
               select 1 from core.persons as pe
                where pe.person_id = v_person and pe.deleted_at is null
                  and etl.norm_name(concat_ws(' ', pe.first_name, pe.last_name)) = v_norm_name
                  and etl.norm_mobile(pe.phone) = v_mobile
                  and pe.dob is not distinct from r.date_of_birth) then
            v_person := null;  -- split off: a person of its own
            v_disp := null;
        end if;
    elsif v_disp is null and p_op = 'INSERT'
          and not v_fab_name and v_norm_name is not null and length(v_mobile) >= 10 then
        -- the backfill's duplicate-registration rule: the earliest registration of the person survives
        select pm.canonical_id into v_person
          from ops.legacy_id_map as pm
          join core.persons as pe on pe.person_id = pm.canonical_id and pe.deleted_at is null
          join core.patients as pa on pa.person_id = pe.person_id and pa.deleted_at is null
         where pm.canonical_table = 'core.persons' and pm.legacy_table = 'patients' and pm.disposition = 'LOADED'
           and pm.legacy_key <> p_key
           and etl.norm_name(concat_ws(' ', pe.first_name, pe.last_name)) = v_norm_name
           and etl.norm_mobile(pe.phone) = v_mobile
           and pe.dob is not distinct from r.date_of_birth
         order by pa.created_at, pa.uhid, pm.legacy_key
         limit 1;
        if v_person is not null then
            v_disp := 'MERGED';
        end if;
    end if;

    if v_disp is distinct from 'MERGED' then
        v_disp := 'LOADED';
        v_person := etl.canonical_id('core.persons', 'patients', p_key);
        insert into core.persons as pe (person_id, first_name, last_name, dob, sex, phone, email, address,
                                        created_at, created_by, updated_by, deleted_at)
        select v_person,
               case when v_fab_name then null else split_part(v_clean_name, ' ', 1) end,
               case when v_fab_name then null
                    else nullif(substr(v_clean_name, length(split_part(v_clean_name, ' ', 1)) + 2), '') end,
               case when r.date_of_birth > etl.local_date(r.created_at, v_tz) then null else r.date_of_birth end,
               g.display,
               etl.e164_in(r.phone),
               case when v_fab_email then null else etl.norm_email(r.email) end,
               jsonb_strip_nulls(jsonb_build_object('line', r.address, 'place', r.place, 'city', r.city,
                                                    'state', r.state, 'pincode', r.pincode)),
               r.created_at, 'compat', 'compat', null
          from (select 1) as one
          left join ref.codes as g on g.system = 'map:patients.gender' and g.code = etl.norm_key(r.gender)
        on conflict (person_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name, dob = excluded.dob,
            sex = excluded.sex, phone = excluded.phone, email = excluded.email, address = excluded.address,
            created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
    end if;

    v_patient := etl.canonical_id('core.patients', 'core.persons', v_person::text);
    if v_disp = 'LOADED' then
        insert into core.patients as pa (patient_id, person_id, uhid, created_at, created_by, updated_by, deleted_at)
        values (v_patient, v_person, btrim(r.patient_id), r.created_at, 'compat', 'compat', null)
        on conflict (patient_id) do update
        set uhid = excluded.uhid, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
    values ('patients', p_key, 'core.persons', v_person, v_disp, 'compat', now()),
           ('patients', p_key, 'core.patients', v_patient, v_disp, 'compat', now())
    on conflict (legacy_table, legacy_key, canonical_table) do update
    set canonical_id = excluded.canonical_id, disposition = excluded.disposition, run_id = 'compat', mapped_at = now();

    -- a registration that owned a person and now merges (or splits off): its former own rows go
    update core.patients as p set deleted_at = now(), updated_by = 'compat'
     where v_disp = 'MERGED'
       and p.patient_id = etl.canonical_id('core.patients', 'core.persons',
                                           etl.canonical_id('core.persons', 'patients', p_key)::text)
       and p.deleted_at is null;

    -- === encounter of the row's encounter-less records ==========================================
    v_t := coalesce(etl.local_wall_clock(r.admission_date, r.admission_time, v_tz), r.created_at);
    v_has_records := etl.has_text_vitals(r.height, r.weight, r.bmi, r.temperature, r.bp_systolic, r.bp_diastolic,
                                         r.pulse, r.spo2, r.respiratory_rate, r.random_blood_sugar)
                     or etl.has_items(r.initial_symptoms, r.primary_complaint);
    v_keys := array[]::text[];

    if v_has_records then
        -- the patient's encounter in progress at t (legacy encounters, visits, IPD stays; not the
        -- encounters inferred for other records)
        select e.encounter_id into v_enc
          from clinical.encounters as e
         where e.patient_id = v_patient and e.deleted_at is null and e.encounter_id <> v_own_enc
           and e.start_at <= v_t
           and v_t <= coalesce(e.end_at, case when e.type = 'IPD' then 'infinity'::timestamptz
                                              else etl.ts_add(e.start_at, interval '24 hours') end)
           and not exists (select 1 from ops.legacy_id_map as m
                            where m.canonical_table = 'clinical.encounters' and m.canonical_id = e.encounter_id
                              and m.disposition = 'LOADED' and m.legacy_key like '%#inferred')
         order by e.start_at desc, e.encounter_id
         limit 1;
        if v_enc is not null then
            v_enc_disp := 'MERGED';
        else
            v_enc := v_own_enc;
            v_enc_disp := 'LOADED';
            select tm.display into v_type
              from ref.codes as tm
             where tm.system = 'map:patients.admission_type' and tm.code = etl.norm_key(r.admission_type);
            insert into clinical.encounters as e (encounter_id, patient_id, type, start_at, end_at, attending_doctor_id,
                                                  facility_id, created_at, created_by, updated_by, deleted_at)
            values (v_enc, v_patient, v_type, v_t, v_t, null, v_facility, v_t, 'compat', 'compat', null)
            on conflict (encounter_id) do update
            set patient_id = excluded.patient_id, type = excluded.type, start_at = excluded.start_at,
                end_at = excluded.end_at, created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
        end if;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
        values ('patients', p_key || '#inferred', 'clinical.encounters', v_enc, v_enc_disp, 'compat', now())
        on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = excluded.disposition, run_id = 'compat', mapped_at = now();
        v_keys := v_keys || (p_key || '#inferred');
        if v_enc_disp = 'MERGED' then
            update clinical.encounters set deleted_at = now(), updated_by = 'compat'
             where encounter_id = v_own_enc and deleted_at is null;
        end if;
    end if;

    -- === vitals ==================================================================================
    for c in
        with vals as (
            select v.kind, v.col, etl.try_numeric(v.raw) as value,
                   case when v.kind = 'temperature' then
                       case when upper(replace(btrim(r.temp_unit), '°', '')) in ('F', 'FAHRENHEIT') then '°F'
                            when upper(replace(btrim(r.temp_unit), '°', '')) in ('C', 'CELSIUS') then '°C'
                            when etl.try_numeric(v.raw) > 45 then '°F'
                            else '°C' end end as unit
              from (values
                  ('height', 'height', r.height), ('weight', 'weight', r.weight), ('bmi', 'bmi', r.bmi),
                  ('temperature', 'temperature', r.temperature), ('bp_systolic', 'bp_systolic', r.bp_systolic),
                  ('bp_diastolic', 'bp_diastolic', r.bp_diastolic), ('heart_rate', 'pulse', r.pulse),
                  ('oxygen_saturation', 'spo2', r.spo2), ('respiratory_rate', 'respiratory_rate', r.respiratory_rate),
                  ('blood_glucose', 'random_blood_sugar', r.random_blood_sugar)) as v (kind, col, raw)
             where etl.has_text_vitals(v.raw)
        ),
        ranges (kind, unit, lo, hi) as (values
            ('bp_systolic', 'mmHg', 50.0, 260.0), ('bp_diastolic', 'mmHg', 20.0, 160.0),
            ('heart_rate', 'bpm', 20.0, 250.0), ('temperature', '°F', 85.0, 110.0), ('temperature', '°C', 30.0, 43.0),
            ('respiratory_rate', '/min', 4.0, 60.0), ('oxygen_saturation', '%', 50.0, 100.0),
            ('weight', 'kg', 0.5, 300.0), ('height', 'cm', 30.0, 250.0), ('bmi', 'kg/m2', 8.0, 80.0),
            ('pain_scale', '0-10', 0.0, 10.0), ('blood_glucose', 'mg/dL', 20.0, 800.0))
        select v.kind, v.col, v.value, coalesce(rg.unit, v.unit) as unit, rg.lo, rg.hi,
               case when v.value is null then 'UNPARSEABLE_VALUE'
                    when v.value not between rg.lo and rg.hi then 'OUT_OF_RANGE'
                    when v_enc is null then 'ORPHAN_FK' end as reason
          from vals as v
          join ranges as rg on rg.kind = v.kind and (v.unit is null or rg.unit = v.unit)
    loop
        if c.reason is null then
            insert into clinical.vitals as x (vital_id, encounter_id, taken_at, kind, value, unit, created_at,
                                              created_by, updated_by, deleted_at)
            values (etl.canonical_id('clinical.vitals', 'patients', p_key || '#' || c.kind), v_enc, v_t, c.kind,
                    c.value, c.unit, v_t, 'compat', 'compat', null)
            on conflict (vital_id) do update
            set encounter_id = excluded.encounter_id, taken_at = excluded.taken_at, kind = excluded.kind,
                value = excluded.value, unit = excluded.unit, created_at = excluded.created_at,
                updated_by = 'compat', deleted_at = null;
            insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
            values ('patients', p_key || '#' || c.kind, 'clinical.vitals',
                    etl.canonical_id('clinical.vitals', 'patients', p_key || '#' || c.kind), 'LOADED', 'compat', now())
            on conflict (legacy_table, legacy_key, canonical_table) do update
            set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
            v_keys := v_keys || (p_key || '#' || c.kind);
        else
            insert into ops.quarantine as q (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
            values ('patients', p_key || '#' || c.kind, 'clinical.vitals', c.reason,
                    case c.reason
                        when 'UNPARSEABLE_VALUE' then jsonb_build_object('column', c.col, 'kind', c.kind, 'rule', 'not a plain number')
                        when 'OUT_OF_RANGE' then jsonb_build_object('column', c.col, 'kind', c.kind, 'unit', c.unit, 'lo', c.lo, 'hi', c.hi)
                        else jsonb_build_object('column', 'encounter_id', 'kind', c.kind, 'rule', 'no live encounter') end,
                    'compat')
            on conflict (legacy_table, legacy_key, target_table, reason_code) do update
            set detail = excluded.detail, last_seen_at = now(), resolved_at = null, run_id = 'compat';
            v_bad := v_bad || (p_key || '#' || c.kind || '|' || c.reason);
        end if;
    end loop;
    -- quarantined vital values of this row that are fine now (or gone)
    update ops.quarantine as q set resolved_at = now(), run_id = 'compat'
     where q.legacy_table = 'patients' and q.target_table = 'clinical.vitals' and q.resolved_at is null
       and q.legacy_key like p_key || '#%'
       and not (q.legacy_key || '|' || q.reason_code = any (v_bad));

    -- === free-text items: allergies, medical history, symptoms ====================================
    for c in
        select t.tbl, t.col, i.ord, i.item
          from (values ('clinical.allergies', 'allergies', r.allergies),
                       ('clinical.medical_history', 'medical_history', r.medical_history),
                       ('clinical.medical_history', 'chronic_conditions', r.chronic_conditions),
                       ('clinical.medical_history', 'previous_surgeries', r.previous_surgeries),
                       ('clinical.symptoms', 'initial_symptoms', r.initial_symptoms),
                       ('clinical.symptoms', 'primary_complaint', r.primary_complaint)) as t (tbl, col, txt)
          cross join lateral etl.text_items(t.txt) as i
    loop
        v_item_key := p_key || '#' || c.col || '#' || c.ord;
        v_id := etl.canonical_id(c.tbl, 'patients', v_item_key);
        if c.tbl = 'clinical.allergies' then
            insert into clinical.allergies as x (allergy_id, patient_id, code, description, onset_date, status,
                                                 created_at, created_by, updated_by, deleted_at)
            values (v_id, v_patient, null, c.item, null, null, r.created_at, 'compat', 'compat', null)
            on conflict (allergy_id) do update
            set patient_id = excluded.patient_id, description = excluded.description,
                created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
        elsif c.tbl = 'clinical.medical_history' then
            insert into clinical.medical_history as x (history_id, patient_id, code, description, recorded_at,
                                                       created_at, created_by, updated_by, deleted_at)
            values (v_id, v_patient, null, c.item, r.created_at, r.created_at, 'compat', 'compat', null)
            on conflict (history_id) do update
            set patient_id = excluded.patient_id, description = excluded.description, recorded_at = excluded.recorded_at,
                created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
        else
            insert into clinical.symptoms as x (symptom_id, encounter_id, code, description, severity,
                                                created_at, created_by, updated_by, deleted_at)
            values (v_id, v_enc, null, c.item, null, r.created_at, 'compat', 'compat', null)
            on conflict (symptom_id) do update
            set encounter_id = excluded.encounter_id, description = excluded.description,
                created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
        end if;
        insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
        values ('patients', v_item_key, c.tbl, v_id, 'LOADED', 'compat', now())
        on conflict (legacy_table, legacy_key, canonical_table) do update
        set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
        v_keys := v_keys || v_item_key;
    end loop;

    -- === registration fees: billing.charges '<key>#consultation_fee' / '<key>#op_card_amount' =====
    for c in
        select f.col, f.txt, etl.try_money(f.txt) as amount, etl.billing_fee_text_says(f.txt) as says,
               (select fs.fee_id from billing.fee_schedules as fs
                 where fs.deleted_at is null and fs.category = 'Derived'
                   and fs.code = case f.col when 'consultation_fee' then 'DERIVED.CONSULTATION' else 'DERIVED.OP_CARD' end
                 limit 1) as fee_id,
               (select m.disposition from ops.legacy_id_map as m
                 where m.canonical_table = 'billing.charges' and m.legacy_table = 'patients'
                   and m.legacy_key = p_key || '#' || f.col) as mapped
          from (values ('consultation_fee', p_new ->> 'consultation_fee'),
                       ('op_card_amount', p_new ->> 'op_card_amount')) as f (col, txt)
    loop
        v_item_key := p_key || '#' || c.col;
        v_id := etl.canonical_id('billing.charges', 'patients', v_item_key);
        if c.says and c.col = 'consultation_fee' and v_disp = 'LOADED' then
            -- carried by a bill line (CARRIED_BY_BILL): the first live charge of a Consultation fee
            -- on a bill of the patient (by the line's legacy table and key)
            select cm.canonical_id into v_carrier
              from billing.invoices as i
              join billing.invoice_lines as il on il.invoice_id = i.invoice_id and il.deleted_at is null
              join billing.charges as ch on ch.charge_id = il.charge_id and ch.deleted_at is null
              join billing.fee_schedules as fs on fs.fee_id = ch.fee_id and etl.norm_key(fs.category) = 'consultation'
              join ops.legacy_id_map as cm on cm.canonical_table = 'billing.charges' and cm.canonical_id = ch.charge_id
                                          and cm.disposition = 'LOADED' and cm.legacy_table <> 'patients'
             where i.patient_id = v_patient and i.deleted_at is null
             order by cm.legacy_table, cm.legacy_key
             limit 1;
            if v_carrier is not null then
                update billing.charges set deleted_at = now(), updated_by = 'compat'
                 where charge_id = v_id and deleted_at is null;
                insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
                values ('patients', v_item_key, 'billing.charges', v_carrier, 'MERGED', 'compat', now())
                on conflict (legacy_table, legacy_key, canonical_table) do update
                set canonical_id = excluded.canonical_id, disposition = 'MERGED', run_id = 'compat', mapped_at = now();
                update ops.quarantine as q set resolved_at = now(), run_id = 'compat'
                 where q.legacy_table = 'patients' and q.legacy_key = v_item_key and q.target_table = 'billing.charges'
                   and q.resolved_at is null;
                continue;
            end if;
        end if;
        v_reason := null;
        if c.says then
            v_charge_enc := coalesce(v_enc, (select e.encounter_id from clinical.encounters as e
                                              where e.patient_id = v_patient and e.deleted_at is null
                                              order by e.start_at nulls last, e.encounter_id limit 1));
            v_reason := case when c.amount is null then 'UNPARSEABLE_VALUE'
                             when c.amount < 0 then 'NEGATIVE_AMOUNT'
                             when c.amount >= 10000000000 or c.amount <> round(c.amount, 2) then 'OUT_OF_RANGE'
                             when v_charge_enc is null then 'ORPHAN_FK' end;
        end if;
        if c.says and v_reason is null then
            insert into billing.charges as x (charge_id, encounter_id, admission_id, fee_id, qty, unit_price,
                                              source_table, source_id, created_at, created_by, updated_by, deleted_at)
            values (v_id, v_charge_enc, null, c.fee_id, 1, c.amount, 'clinical.encounters', v_charge_enc,
                    r.created_at, 'compat', 'compat', null)
            on conflict (charge_id) do update
            set encounter_id = excluded.encounter_id, fee_id = excluded.fee_id, qty = excluded.qty,
                unit_price = excluded.unit_price, source_table = excluded.source_table, source_id = excluded.source_id,
                created_at = excluded.created_at, updated_by = 'compat', deleted_at = null;
            insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
            values ('patients', v_item_key, 'billing.charges', v_id, 'LOADED', 'compat', now())
            on conflict (legacy_table, legacy_key, canonical_table) do update
            set canonical_id = excluded.canonical_id, disposition = 'LOADED', run_id = 'compat', mapped_at = now();
        else
            if v_reason is not null then
                insert into ops.quarantine as q (legacy_table, legacy_key, target_table, reason_code, detail, run_id)
                values ('patients', v_item_key, 'billing.charges', v_reason,
                        case v_reason
                            when 'UNPARSEABLE_VALUE' then jsonb_build_object('column', c.col, 'rule', 'not a money amount')
                            when 'ORPHAN_FK' then jsonb_build_object('column', 'id', 'rule', 'the patient has no encounter', 'amount', c.amount)
                            else jsonb_build_object('column', c.col, 'amount', c.amount) end,
                        'compat')
                on conflict (legacy_table, legacy_key, target_table, reason_code) do update
                set detail = excluded.detail, last_seen_at = now(), resolved_at = null, run_id = 'compat';
            end if;
            -- no fee stated any more, or not loadable: the earlier charge goes
            update billing.charges set deleted_at = now(), updated_by = 'compat'
             where charge_id = v_id and deleted_at is null;
            delete from ops.legacy_id_map as m
             where m.canonical_table = 'billing.charges' and m.legacy_table = 'patients' and m.legacy_key = v_item_key;
        end if;
        update ops.quarantine as q set resolved_at = now(), run_id = 'compat'
         where q.legacy_table = 'patients' and q.legacy_key = v_item_key and q.target_table = 'billing.charges'
           and q.resolved_at is null and q.reason_code is distinct from v_reason;
    end loop;

    perform compat.patients_retire(p_key, v_keys, false);
end
$$;

-- The clinical rows a patients row produced ('<key>#...' legacy keys) that it no longer gives
-- (p_keep: the keys it gives now; p_delete: the legacy row is gone): LOADED ones soft-deleted, every
-- such map entry removed (a DELETE keeps them as history, like the backfill).
create or replace function compat.patients_retire(p_key text, p_keep text[], p_delete boolean)
returns void
language plpgsql
as $$
declare
begin
    update clinical.vitals as x set deleted_at = now(), updated_by = 'compat'
      from ops.legacy_id_map as m
     where m.canonical_table = 'clinical.vitals' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
       and m.disposition = 'LOADED' and not (m.legacy_key = any (p_keep))
       and x.vital_id = m.canonical_id and x.deleted_at is null;
    update clinical.allergies as x set deleted_at = now(), updated_by = 'compat'
      from ops.legacy_id_map as m
     where m.canonical_table = 'clinical.allergies' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
       and m.disposition = 'LOADED' and not (m.legacy_key = any (p_keep))
       and x.allergy_id = m.canonical_id and x.deleted_at is null;
    update clinical.medical_history as x set deleted_at = now(), updated_by = 'compat'
      from ops.legacy_id_map as m
     where m.canonical_table = 'clinical.medical_history' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
       and m.disposition = 'LOADED' and not (m.legacy_key = any (p_keep))
       and x.history_id = m.canonical_id and x.deleted_at is null;
    update clinical.symptoms as x set deleted_at = now(), updated_by = 'compat'
      from ops.legacy_id_map as m
     where m.canonical_table = 'clinical.symptoms' and m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
       and m.disposition = 'LOADED' and not (m.legacy_key = any (p_keep))
       and x.symptom_id = m.canonical_id and x.deleted_at is null;
    update clinical.encounters as x set deleted_at = now(), updated_by = 'compat'
      from ops.legacy_id_map as m
     where m.canonical_table = 'clinical.encounters' and m.legacy_table = 'patients' and m.legacy_key = p_key || '#inferred'
       and m.disposition = 'LOADED' and not (m.legacy_key = any (p_keep))
       and x.encounter_id = m.canonical_id and x.deleted_at is null;
    if not p_delete then
        delete from ops.legacy_id_map as m
         where m.legacy_table = 'patients' and m.legacy_key like p_key || '#%'
           and m.canonical_table in ('clinical.vitals', 'clinical.allergies', 'clinical.medical_history',
                                     'clinical.symptoms', 'clinical.encounters')
           and not (m.legacy_key = any (p_keep));
    end if;
end
$$;
