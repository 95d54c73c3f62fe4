insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'alias_copy', 'billing_items', c.id::text, 'MERGE_INTO:' || a.id::text, 'DUPLICATE',
       jsonb_build_object('base_table', 'billing_item')
from billing_items c join billing_item a on a.id = c.id
