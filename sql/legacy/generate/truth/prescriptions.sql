insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'orphan_fk', 'prescriptions', r.id::text, 'LOAD_FK_NULL', 'ORPHAN_FK',
       jsonb_build_object('column', 'appointment_id', 'value', r.appointment_id)
from prescriptions r
where r.appointment_id is not null and not exists (select 1 from appointment a where a.id = r.appointment_id)
union all
select 'unknown_status', 'prescriptions', id::text, 'LOAD_WITH_WARN', 'UNKNOWN_STATUS',
       jsonb_build_object('column', 'status', 'value', status)
from prescriptions where status not in ('active', 'completed', 'cancelled', 'dispensed')
union all
select 'unknown_status', 'prescription_items', id::text, 'LOAD_WITH_WARN', 'UNKNOWN_STATUS',
       jsonb_build_object('column', 'status', 'value', status)
from prescription_items where status not in ('pending', 'dispensed', 'cancelled', 'partial')
