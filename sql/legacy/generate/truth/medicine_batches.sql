-- batches: packs before the cut-over, one-sided drug keys, reused batch numbers, orphans
with p as (select %(packs_until)s::date packs_until),
b as (
    select mb.*, coalesce(mb.medication_id, mb.medicine_id) as med,
           coalesce(substring(mb.notes from 'pack of ([0-9]+)')::int, 1) as pack
    from medicine_batches mb
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'packs_not_units', 'medicine_batches', b.id::text, 'LOAD_WITH_WARN', 'PACKS_NOT_UNITS',
       jsonb_build_object('column', 'current_quantity', 'value', b.current_quantity, 'pack_size', b.pack,
                          'corrected', b.current_quantity * b.pack)
from b, p where b.received_date < p.packs_until and b.pack > 1
union all
select 'batch_fk_split', 'medicine_batches', b.id::text, 'LOAD_WITH_WARN', 'AMBIGUOUS_REF',
       jsonb_build_object('medicine_id', b.medicine_id, 'medication_id', b.medication_id, 'corrected', b.med)
from b where (b.medicine_id is null) <> (b.medication_id is null) and exists (select 1 from medications m where m.id = b.med)
union all
select 'orphan_fk', 'medicine_batches', b.id::text, 'QUARANTINE:ORPHAN_FK', 'ORPHAN_FK',
       jsonb_build_object('column', 'medication_id', 'value', b.med)
from b where not exists (select 1 from medications m where m.id = b.med)
union all
select 'batch_number_reused', 'medicine_batches', b.id::text, 'LOAD_WITH_WARN', 'AMBIGUOUS_REF',
       jsonb_build_object('batch_number', b.batch_number)
from b where b.batch_number in (select batch_number from b group by batch_number having count(distinct med) > 1)
