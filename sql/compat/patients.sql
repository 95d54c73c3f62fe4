-- compat view body: patients. Grain: one row per legacy patients row LOADED or MERGED into a live
-- core.patients row (ops.legacy_id_map, canonical_table core.patients); a MERGED duplicate
-- registration answers under its own legacy id with the surviving patient's identity values.
-- Sources: core.patients (uhid, created_at), core.persons (name, dob, sex, phone, e-mail, address),
-- clinical.vitals (the TEXT vitals, legacy keys '<id>#<kind>'), clinical.allergies /
-- clinical.medical_history / clinical.symptoms (the free-text lists, legacy keys
-- '<id>#<column>#<n>'), ref.codes 'map:patients.gender' (sex -> legacy gender), ops.legacy_kept
-- (every kept column: age, contacts, guardian, admission/payment/insurance fields, temp_unit,
-- money TEXT, FK ids as stored, updated_at ...).
-- Normalisations (the inverse of sql/core/persons.sql, patients.sql, vitals.sql and the item
-- transforms; not exact where those transforms normalize):
--   * id: the legacy key from provenance; patient_id: core.patients.uhid (a MERGED duplicate shows
--     the survivor's UHID, name, dob, gender, phone, e-mail, address and created_at);
--   * name: persons first_name + ' ' + last_name (whitespace collapsed/trimmed by persons.sql); a
--     fabricated name (first/last NULL, Q23) reads back as 'Patient <UHID>';
--   * date_of_birth: persons.dob (a dob after the registration date was not carried: NULL);
--   * gender: persons.sex M/F/O -> male/female/other;
--   * phone: the 10-digit national number of persons.phone ('+91 ', '+91-' prefixes dropped);
--   * email: persons.email (trimmed, lower case); NULL (the fabricated '<UHID>@annam.com' was not
--     carried) reads back as '<UHID>@annam.com', the address the app gives a patient without one;
--   * address/place/city/state/pincode: the keys of persons.address;
--   * vitals (height ... random_blood_sugar): the row's own clinical.vitals value as text (numeric:
--     blanks trimmed, '+'/leading zeros dropped); a value quarantined (not a plain number, out of
--     range) reads NULL;
--   * allergies, medical_history, chronic_conditions, previous_surgeries, initial_symptoms,
--     primary_complaint: the row's own items joined by ', ' in their order (duplicates and none-words
--     such as 'NKDA' were not carried; a text of none-words only reads NULL).
with patient_map as (
    select m.legacy_key, m.canonical_id as patient_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'core.patients' and m.legacy_table = 'patients'
      and m.disposition in ('LOADED', 'MERGED')
),

final as (
    select
        m.legacy_key as id,
        p.uhid as patient_id,
        coalesce(nullif(concat_ws(' ', pe.first_name, pe.last_name), ''), 'Patient ' || p.uhid) as name,
        pe.dob as date_of_birth,
        k.attrs ->> 'age' as age,
        g.code as gender,
        k.attrs ->> 'marital_status' as marital_status,
        k.attrs ->> 'blood_group' as blood_group,
        right(pe.phone, 10) as phone,
        coalesce(pe.email, p.uhid || '@annam.com') as email,
        pe.address ->> 'line' as address,
        pe.address ->> 'place' as place,
        k.attrs ->> 'alternate_phone' as alternate_phone,
        pe.address ->> 'city' as city,
        pe.address ->> 'state' as state,
        pe.address ->> 'pincode' as pincode,
        k.attrs ->> 'emergency_contact_name' as emergency_contact_name,
        k.attrs ->> 'emergency_contact_phone' as emergency_contact_phone,
        k.attrs ->> 'emergency_contact_relationship' as emergency_contact_relationship,
        k.attrs ->> 'guardian_name' as guardian_name,
        k.attrs ->> 'guardian_relationship' as guardian_relationship,
        k.attrs ->> 'guardian_phone' as guardian_phone,
        k.attrs ->> 'guardian_address' as guardian_address,
        ih.allergies,
        ih.medical_history,
        k.attrs ->> 'current_medications' as current_medications,
        ih.chronic_conditions,
        ih.previous_surgeries,
        it.initial_symptoms,
        it.primary_complaint,
        k.attrs ->> 'diagnosis' as diagnosis,
        v.height,
        v.weight,
        v.bmi,
        v.temperature,
        k.attrs ->> 'temp_unit' as temp_unit,
        v.bp_systolic,
        v.bp_diastolic,
        v.pulse,
        v.spo2,
        v.respiratory_rate,
        v.random_blood_sugar,
        k.attrs ->> 'vital_notes' as vital_notes,
        k.attrs ->> 'admission_date' as admission_date,
        k.attrs ->> 'admission_time' as admission_time,
        k.attrs ->> 'admission_type' as admission_type,
        k.attrs ->> 'referring_doctor_facility' as referring_doctor_facility,
        k.attrs ->> 'referred_by' as referred_by,
        k.attrs ->> 'department_ward' as department_ward,
        k.attrs ->> 'room_number' as room_number,
        k.attrs ->> 'consulting_doctor_id' as consulting_doctor_id,
        k.attrs ->> 'consulting_doctor_name' as consulting_doctor_name,
        k.attrs ->> 'is_admitted' as is_admitted,
        k.attrs ->> 'is_critical' as is_critical,
        k.attrs ->> 'op_card_amount' as op_card_amount,
        k.attrs ->> 'consultation_fee' as consultation_fee,
        k.attrs ->> 'total_amount' as total_amount,
        k.attrs ->> 'payment_mode' as payment_mode,
        k.attrs ->> 'advance_amount' as advance_amount,
        k.attrs ->> 'advance_payment_method' as advance_payment_method,
        k.attrs ->> 'advance_payment_date' as advance_payment_date,
        k.attrs ->> 'advance_reference_number' as advance_reference_number,
        k.attrs ->> 'advance_notes' as advance_notes,
        k.attrs ->> 'insurance_number' as insurance_number,
        k.attrs ->> 'insurance_provider' as insurance_provider,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'registration_status' as registration_status,
        k.attrs ->> 'user_id' as user_id,
        k.attrs ->> 'staff_id' as staff_id,
        p.created_at,
        k.attrs ->> 'updated_at' as updated_at
    from patient_map as m
    join core.patients as p on p.patient_id = m.patient_id and p.deleted_at is null
    join core.persons as pe on pe.person_id = p.person_id
    left join ref.codes as g on g.system = 'map:patients.gender' and g.display = pe.sex
    left join ops.legacy_kept as k on k.legacy_table = 'patients' and k.legacy_key = m.legacy_key
    -- the row's own vitals: exact provenance keys '<id>#<kind>' (index lookups)
    left join lateral (
        select
            max(x.value::text) filter (where x.kind = 'height') as height,
            max(x.value::text) filter (where x.kind = 'weight') as weight,
            max(x.value::text) filter (where x.kind = 'bmi') as bmi,
            max(x.value::text) filter (where x.kind = 'temperature') as temperature,
            max(x.value::text) filter (where x.kind = 'bp_systolic') as bp_systolic,
            max(x.value::text) filter (where x.kind = 'bp_diastolic') as bp_diastolic,
            max(x.value::text) filter (where x.kind = 'heart_rate') as pulse,
            max(x.value::text) filter (where x.kind = 'oxygen_saturation') as spo2,
            max(x.value::text) filter (where x.kind = 'respiratory_rate') as respiratory_rate,
            max(x.value::text) filter (where x.kind = 'blood_glucose') as random_blood_sugar
        from ops.legacy_id_map as vm
        join clinical.vitals as x on x.vital_id = vm.canonical_id and x.deleted_at is null
        where vm.canonical_table = 'clinical.vitals' and vm.legacy_table = 'patients'
          and vm.legacy_key = any (array[
              m.legacy_key || '#height', m.legacy_key || '#weight', m.legacy_key || '#bmi',
              m.legacy_key || '#temperature', m.legacy_key || '#bp_systolic', m.legacy_key || '#bp_diastolic',
              m.legacy_key || '#heart_rate', m.legacy_key || '#oxygen_saturation',
              m.legacy_key || '#respiratory_rate', m.legacy_key || '#blood_glucose'])
    ) as v on true
    -- the row's own allergy and history items: the patient's rows (index on patient_id) whose
    -- provenance key starts with the row's id
    left join lateral (
        select
            string_agg(i.description, ', ' order by i.n) filter (where i.col = 'allergies') as allergies,
            string_agg(i.description, ', ' order by i.n) filter (where i.col = 'medical_history') as medical_history,
            string_agg(i.description, ', ' order by i.n) filter (where i.col = 'chronic_conditions') as chronic_conditions,
            string_agg(i.description, ', ' order by i.n) filter (where i.col = 'previous_surgeries') as previous_surgeries
        from (
            select split_part(am.legacy_key, '#', 2) as col, split_part(am.legacy_key, '#', 3)::int as n, a.description
            from clinical.allergies as a
            join ops.legacy_id_map as am on am.canonical_table = 'clinical.allergies' and am.canonical_id = a.allergy_id
            where a.patient_id = p.patient_id and a.deleted_at is null
              and am.legacy_table = 'patients' and split_part(am.legacy_key, '#', 1) = m.legacy_key
            union all
            select split_part(hm.legacy_key, '#', 2), split_part(hm.legacy_key, '#', 3)::int, h.description
            from clinical.medical_history as h
            join ops.legacy_id_map as hm on hm.canonical_table = 'clinical.medical_history' and hm.canonical_id = h.history_id
            where h.patient_id = p.patient_id and h.deleted_at is null
              and hm.legacy_table = 'patients' and split_part(hm.legacy_key, '#', 1) = m.legacy_key
        ) as i
    ) as ih on true
    -- the row's own symptom items: on the encounter of '<id>#inferred' (index on encounter_id)
    left join lateral (
        select
            string_agg(x.description, ', ' order by split_part(sm.legacy_key, '#', 3)::int)
                filter (where split_part(sm.legacy_key, '#', 2) = 'initial_symptoms') as initial_symptoms,
            string_agg(x.description, ', ' order by split_part(sm.legacy_key, '#', 3)::int)
                filter (where split_part(sm.legacy_key, '#', 2) = 'primary_complaint') as primary_complaint
        from ops.legacy_id_map as em
        join clinical.symptoms as x on x.encounter_id = em.canonical_id and x.deleted_at is null
        join ops.legacy_id_map as sm on sm.canonical_table = 'clinical.symptoms' and sm.canonical_id = x.symptom_id
        where em.canonical_table = 'clinical.encounters' and em.legacy_table = 'patients'
          and em.legacy_key = m.legacy_key || '#inferred'
          and sm.legacy_table = 'patients' and split_part(sm.legacy_key, '#', 1) = m.legacy_key
    ) as it on true
)

select * from final
