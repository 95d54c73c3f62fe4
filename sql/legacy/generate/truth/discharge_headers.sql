-- patient_admissions / billing_summary (blueprint): discharge headers with no lines
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'orphan_header', 'patient_admissions', id::text, 'LOAD_WITH_WARN', 'ORPHAN_HEADER',
       jsonb_build_object('same_admission_as_bed_allocation', bed_allocation_id)
from patient_admissions
union all
select 'orphan_header', 'billing_summary', id::text, 'LOAD_WITH_WARN', 'ORPHAN_HEADER',
       jsonb_build_object('lines', 0)
from billing_summary
