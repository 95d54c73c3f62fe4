-- Monitor "admission_without_bed" (asset inpatient/admissions). Figure: live admissions not yet
-- discharged that have no open (end_at null) live bed allocation: the blueprint's "admission without
-- bed". Tolerated: 0.
select count(*)::numeric as figure
from inpatient.admissions as a
where a.deleted_at is null
  and a.discharge_at is null
  and not exists (
      select 1
      from inpatient.bed_allocations as b
      where b.admission_id = a.admission_id
        and b.end_at is null
        and b.deleted_at is null
  )
