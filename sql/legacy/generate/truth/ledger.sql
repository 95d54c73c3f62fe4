-- {target} (payment_ledger live / payment_history blueprint): copies of billing_payments rows, and
-- rows of sources outside the fixture
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'ledger_copy', %(tag)s, l.id::text, 'MERGE_INTO:' || bp.id::text, 'DUPLICATE',
       jsonb_build_object('source_table', 'billing_payments')
from {target} l join billing_payments bp on l.notes = 'backfill billing_payments:' || bp.id::text
union all
select 'orphan_fk', %(tag)s, l.id::text, 'QUARANTINE:ORPHAN_FK', 'ORPHAN_FK',
       jsonb_build_object('column', 'source_id', 'value', l.source_id, 'source_type', l.source_type)
from {target} l
where l.notes not like 'backfill billing_payments:%%'
