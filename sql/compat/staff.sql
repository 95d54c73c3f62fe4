-- compat view body: staff. Grain: one row per legacy staff row LOADED or MERGED into a live
-- core.staff row (ops.legacy_id_map, canonical_table core.staff; a staff row is MERGED into the
-- staff member of its login, by user_id, e-mail or mobile: sql/core/persons.sql).
-- Sources: core.staff (liveness), core.persons (first/last name, e-mail, phone: the person the
-- row belongs to), ops.legacy_kept (employee_id, department_id and user_id as stored, role as typed,
-- hire_date, specialization, is_active, created_at, pf/esic numbers, deleted_at,
-- training_category, updated_at).
-- Normalisations:
--   * first_name/last_name/email/phone are the person's: a staff row merged into a login shows the
--     login's name (first word / rest, 'Dr.' dropped) and e-mail (lower case), phone the 10-digit
--     national number.
with staff_map as (
    select m.legacy_key, m.canonical_id as staff_id
    from ops.legacy_id_map as m
    where m.canonical_table = 'core.staff' and m.legacy_table = 'staff' and m.disposition in ('LOADED', 'MERGED')
),

final as (
    select
        m.legacy_key as id,
        k.attrs ->> 'employee_id' as employee_id,
        pe.first_name,
        pe.last_name,
        pe.email,
        right(pe.phone, 10) as phone,
        k.attrs ->> 'department_id' as department_id,
        k.attrs ->> 'role' as role,
        k.attrs ->> 'hire_date' as hire_date,
        k.attrs ->> 'specialization' as specialization,
        k.attrs ->> 'is_active' as is_active,
        k.attrs ->> 'created_at' as created_at,
        k.attrs ->> 'updated_at' as updated_at,
        k.attrs ->> 'pf_number' as pf_number,
        k.attrs ->> 'esic_number' as esic_number,
        k.attrs ->> 'deleted_at' as deleted_at,
        k.attrs ->> 'training_category' as training_category,
        k.attrs ->> 'user_id' as user_id
    from staff_map as m
    join core.staff as s on s.staff_id = m.staff_id and s.deleted_at is null
    left join core.persons as pe on pe.person_id = s.person_id
    left join ops.legacy_kept as k on k.legacy_table = 'staff' and k.legacy_key = m.legacy_key
)

select * from final
