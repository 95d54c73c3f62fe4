insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'orphan_fk', 'patient_visits', v.id::text, 'LOAD_FK_NULL', 'ORPHAN_FK',
       jsonb_build_object('column', 'appointment_id', 'value', v.appointment_id)
from patient_visits v
where v.appointment_id is not null and not exists (select 1 from appointment a where a.id = v.appointment_id)
