-- bed_allocations: IP number formats, admission types outside both CHECKs, naive timestamps
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'ip_number_format', 'bed_allocations', id::text, 'LOAD_WITH_WARN', 'FORMAT_VARIANT',
       jsonb_build_object('column', 'ip_number', 'value', ip_number)
from bed_allocations where ip_number !~ '^IP[0-9]{8,}$'
union all
select 'admission_type_unknown', 'bed_allocations', id::text, 'LOAD_WITH_WARN', 'UNKNOWN_STATUS',
       jsonb_build_object('column', 'admission_type', 'value', admission_type)
from bed_allocations where admission_type not in ('emergency', 'elective', 'scheduled', 'transfer')
union all
select 'naive_timestamp', 'bed_allocations', id::text, 'LOAD_WITH_WARN', 'NAIVE_TIMESTAMP',
       jsonb_build_object('column', 'admission_date', 'value', admission_date,
                          'corrected', (admission_date at time zone 'UTC') at time zone 'Asia/Kolkata',
                          'discharge_date_corrected', (discharge_date at time zone 'UTC') at time zone 'Asia/Kolkata')
from bed_allocations where admission_date is not null
