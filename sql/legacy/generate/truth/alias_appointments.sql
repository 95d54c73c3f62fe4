insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'alias_copy', 'appointments', c.id::text, 'MERGE_INTO:' || a.id::text, 'DUPLICATE',
       jsonb_build_object('base_table', 'appointment')
from appointments c join appointment a on a.id = c.id
