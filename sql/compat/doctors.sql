-- compat view body: doctors. Grain: one row per legacy doctors row LOADED or MERGED into a live
-- core.staff row (ops.legacy_id_map, canonical_table core.staff; a doctor is MERGED into the staff
-- member of its login, sql/core/staff.sql).
-- Sources: core.staff (license_no), ops.legacy_kept (user_id as stored, specialization,
-- qualification, years_of_experience, consultation_fee, availability_hours/type, room_number,
-- max_patients_per_day, status, sort_order, deleted_at, created_at, updated_at).
-- Normalisations: license_number is the staff member's license (the license of the doctor row of
-- its login: one of them when a login has several doctor rows).
with doctor_map as (
    select m.legacy_key, m.canonical_id as staff_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'core.staff' and m.legacy_table = 'doctors' and m.disposition in ('LOADED', 'MERGED')
),

final as (
    select
        m.legacy_key as id,
        k.attrs ->> 'user_id' as user_id,
        s.license_no as license_number,
        k.attrs ->> 'specialization' as specialization,
        k.attrs ->> 'qualification' as qualification,
        k.attrs ->> 'years_of_experience' as years_of_experience,
        k.attrs ->> 'consultation_fee' as consultation_fee,
        k.attrs -> 'availability_hours' as availability_hours,
        k.attrs ->> 'availability_type' as availability_type,
        k.attrs ->> 'room_number' as room_number,
        k.attrs ->> 'max_patients_per_day' as max_patients_per_day,
        k.attrs ->> 'status' as status,
        k.attrs ->> 'sort_order' as sort_order,
        k.attrs ->> 'deleted_at' as deleted_at,
        k.attrs ->> 'created_at' as created_at,
        k.attrs ->> 'updated_at' as updated_at
    from doctor_map as m
    join core.staff as s on s.staff_id = m.staff_id and s.deleted_at is null
    left join ops.legacy_kept as k on k.legacy_table = 'doctors' and k.legacy_key = m.legacy_key
)

select * from final
