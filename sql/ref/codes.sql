-- ref.codes. Grain: one row per (code, system). Runs as one script with hms.run_id set locally.
-- Two kinds of rows:
--   * the pipeline's explicit vocabulary mappings, system 'map:<legacy column>', code = the legacy
--     value (lower-case, trimmed), display = the canonical value. Transforms join these; a legacy
--     value with no row here is quarantined or, where the column allows it, loaded NULL with a WARN.
--     Edit this list to map a new legacy value (no Python).
--   * the legacy ref_code rows, system 'legacy.<domain>' (their uuids are what legacy status_id /
--     type_id columns point at).

insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    -- departments have no type in the legacy DB: by department name
    ('map:departments.type', 'general medicine', 'OPD'),
    ('map:departments.type', 'cardiology', 'OPD'),
    ('map:departments.type', 'orthopaedics', 'OPD'),
    ('map:departments.type', 'paediatrics', 'OPD'),
    ('map:departments.type', 'obstetrics & gynaecology', 'OPD'),
    ('map:departments.type', 'general surgery', 'OPD'),
    ('map:departments.type', 'dermatology', 'OPD'),
    ('map:departments.type', 'ent', 'OPD'),
    ('map:departments.type', 'ophthalmology', 'OPD'),
    ('map:departments.type', 'neurology', 'OPD'),
    ('map:departments.type', 'nephrology', 'OPD'),
    ('map:departments.type', 'pulmonology', 'OPD'),
    ('map:departments.type', 'psychiatry', 'OPD'),
    ('map:departments.type', 'physiotherapy', 'OPD'),
    ('map:departments.type', 'dental', 'OPD'),
    ('map:departments.type', 'dietetics', 'OPD'),
    ('map:departments.type', 'emergency', 'ER'),
    ('map:departments.type', 'icu', 'WARD'),
    ('map:departments.type', 'general ward', 'WARD'),
    ('map:departments.type', 'radiology', 'LAB'),
    ('map:departments.type', 'laboratory', 'LAB'),
    ('map:departments.type', 'pharmacy', 'PHARMACY'),
    ('map:departments.type', 'billing', 'ADMIN'),
    ('map:departments.type', 'administration', 'ADMIN'),
    -- users.role (lower-case) and staff.role (title-case free text, lower-cased) -> staff role
    ('map:staff.role', 'md', 'md'),
    ('map:staff.role', 'chief_doctor', 'chief_doctor'),
    ('map:staff.role', 'doctor', 'doctor'),
    ('map:staff.role', 'nurse', 'nurse'),
    ('map:staff.role', 'staff nurse', 'nurse'),
    ('map:staff.role', 'admin', 'admin'),
    ('map:staff.role', 'pharmacist', 'pharmacist'),
    ('map:staff.role', 'technician', 'technician'),
    ('map:staff.role', 'lab technician', 'technician'),
    ('map:staff.role', 'radiographer', 'technician'),
    ('map:staff.role', 'receptionist', 'receptionist'),
    ('map:staff.role', 'accountant', 'accountant'),
    ('map:staff.role', 'ward boy', 'support'),
    -- staff role -> scope (what the role may touch; used by RLS later)
    ('map:staff_roles.scope', 'md', 'clinical'),
    ('map:staff_roles.scope', 'chief_doctor', 'clinical'),
    ('map:staff_roles.scope', 'doctor', 'clinical'),
    ('map:staff_roles.scope', 'nurse', 'clinical'),
    ('map:staff_roles.scope', 'technician', 'lab'),
    ('map:staff_roles.scope', 'pharmacist', 'pharmacy'),
    ('map:staff_roles.scope', 'accountant', 'billing'),
    ('map:staff_roles.scope', 'receptionist', 'front_office'),
    ('map:staff_roles.scope', 'admin', 'admin'),
    ('map:staff_roles.scope', 'support', 'support'),
    -- patients.gender -> persons.sex
    ('map:patients.gender', 'male', 'M'),
    ('map:patients.gender', 'female', 'F'),
    ('map:patients.gender', 'other', 'O'),
    -- appointment.status_id (ref_code appt_status) -> clinical.appointments.status
    ('map:appointment.status', 'scheduled', 'BOOKED'),
    ('map:appointment.status', 'confirmed', 'BOOKED'),
    ('map:appointment.status', 'rescheduled', 'BOOKED'),
    ('map:appointment.status', 'in_progress', 'BOOKED'),
    ('map:appointment.status', 'completed', 'DONE'),
    ('map:appointment.status', 'cancelled', 'CANCELLED'),
    ('map:appointment.status', 'no_show', 'NO_SHOW'),
    -- encounter.type_id (ref_code encounter_type) and patient_visits.visit_type -> encounters.type
    ('map:encounter.type', 'consultation', 'OPD'),
    ('map:encounter.type', 'follow_up', 'OPD'),
    ('map:encounter.type', 'routine_checkup', 'OPD'),
    ('map:encounter.type', 'new_patient', 'OPD'),
    ('map:encounter.type', 'legacy', 'OPD'),
    ('map:encounter.type', 'emergency', 'ER'),
    -- lab_reports.status -> clinical.lab_order_items.status
    ('map:lab_reports.status', 'pending', 'ORDERED'),
    ('map:lab_reports.status', 'in_progress', 'PROCESSING'),
    ('map:lab_reports.status', 'completed', 'RESULTED'),
    ('map:lab_reports.status', 'cancelled', 'CANCELLED')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;

-- --- issue 4 (lab, inpatient) -------------------------------------------------------------------
-- beds.bed_type / beds.status -> inpatient.beds.type / status;
-- lab analyte (normalized name, etl.lab_key) -> the unit its results must carry, '1' (UCUM) =
-- dimensionless: no unit expected, so a missing one is not a MISSING_UNIT warning.
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:beds.bed_type', 'general', 'GENERAL'),
    ('map:beds.bed_type', 'icu', 'ICU'),
    ('map:beds.bed_type', 'private', 'PRIVATE'),
    ('map:beds.bed_type', 'semi_private', 'SEMI_PRIVATE'),
    ('map:beds.bed_type', 'emergency', 'EMERGENCY'),
    ('map:beds.status', 'available', 'AVAILABLE'),
    ('map:beds.status', 'occupied', 'OCCUPIED'),
    ('map:beds.status', 'maintenance', 'MAINTENANCE'),
    ('map:beds.status', 'reserved', 'RESERVED'),
    ('map:lab_results.unit', 'ph', '1'),
    ('map:lab_results.unit', 'specific_gravity', '1'),
    ('map:lab_results.unit', 'inr', '1')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
-- --- end issue 4 --------------------------------------------------------------------------------

-- --- issue 4 (clinical) -------------------------------------------------------------------------
-- patients.admission_type (the registration form's visit class, the de facto OP flag, Q23) ->
-- clinical.encounters.type of the encounter inferred for a registration (sql/clinical/encounters.sql).
-- The admission kinds map to nothing: an inpatient stay is the IPD encounter of its bed allocations.
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:patients.admission_type', 'outpatient', 'OPD'),
    ('map:patients.admission_type', 'referred', 'OPD'),
    ('map:patients.admission_type', 'emergency', 'ER')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
-- --- end issue 4 (clinical) ---------------------------------------------------------------------

-- Legacy ref_code rows that can be a code: a code and a domain, each short enough to be a key.
-- The others are quarantined (MISSING_VALUE / OUT_OF_RANGE, the column in detail, no value).
create temp table _ref_code on commit drop as
select s._key, s.code, s.domain, s.label,
       case when nullif(btrim(s.code), '') is null then 'code'
            when nullif(btrim(s.domain), '') is null then 'domain' end as missing,
       case when length(s.code) > 255 then 'code' when length(s.domain) > 255 then 'domain' end as too_long
from stg.ref_code as s
where not s._deleted;

insert into ref.codes (code, system, display)
select distinct on (s.code, s.domain) s.code, 'legacy.' || s.domain, s.label
from _ref_code as s
where s.missing is null and s.too_long is null
order by s.code, s.domain, s._key
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;

insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id,
                            first_seen_at, last_seen_at)
select 'ref_code', s._key, 'ref.codes',
       case when s.missing is not null then 'MISSING_VALUE' else 'OUT_OF_RANGE' end,
       jsonb_build_object('column', coalesce(s.missing, s.too_long),
                          'rule', case when s.missing is not null then 'a code needs a code and a domain'
                                       else 'a code or domain longer than 255 characters' end),
       current_setting('hms.run_id'), now(), now()
from _ref_code as s
where s.missing is not null or s.too_long is not null
on conflict (legacy_table, legacy_key, target_table, reason_code) do update
set resolved_at = null, last_seen_at = now(), run_id = excluded.run_id
where ops.quarantine.resolved_at is not null;

update ops.quarantine as q set resolved_at = now(), run_id = current_setting('hms.run_id')
where q.target_table = 'ref.codes' and q.legacy_table = 'ref_code' and q.resolved_at is null
  and q.reason_code in ('MISSING_VALUE', 'OUT_OF_RANGE')
  and not exists (select 1 from _ref_code as s
                  where s._key = q.legacy_key and (s.missing is not null or s.too_long is not null));

-- Provenance: each legacy ref_code row is LOADED into the (code, system) row it became. ref.codes
-- has no uuid key, so canonical_id is the deterministic id of that (code, system).
insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
select 'ref_code', s._key, 'ref.codes', etl.canonical_id('ref.codes', 'legacy.' || s.domain, s.code),
       'LOADED', current_setting('hms.run_id'), now()
from _ref_code as s
where s.missing is null and s.too_long is null
on conflict (legacy_table, legacy_key, canonical_table) do update
set canonical_id = excluded.canonical_id, run_id = excluded.run_id, mapped_at = now()
where ops.legacy_id_map.canonical_id is distinct from excluded.canonical_id;

-- A legacy code renamed or deleted leaves no row behind (reference data has no soft delete: the
-- row is gone from the legacy side and from here alike), and a ref_code row now quarantined keeps
-- no provenance.
delete from ref.codes as c
where c.system like 'legacy.%'
  and not exists (select 1 from _ref_code as s
                  where s.missing is null and s.too_long is null
                    and s.code = c.code and 'legacy.' || s.domain = c.system);

delete from ops.legacy_id_map as m
using _ref_code as s
where m.canonical_table = 'ref.codes' and m.legacy_table = 'ref_code' and m.legacy_key = s._key
  and (s.missing is not null or s.too_long is not null);

drop table _ref_code;
