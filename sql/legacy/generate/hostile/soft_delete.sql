-- Soft-deleted parents (slot class 'soft_delete'): doctors and staff rows get deleted_at (staff keep
-- is_active as it was). The rows that still reference them are recorded by the generator as
-- HOSTILE_SOFT_DELETED_REF (over every FK of the legacy DDL).

-- needs: doctors
with s as (select h.id, h.vrk from _hslot h where h.tbl = 'doctors' and h.cls = 'soft_delete'),
u as (
    update doctors t set deleted_at = pg_temp.at(%(as_of)s::date - 30 - s.vrk, 0.4)
    from s where t.id = s.id
    returning t.id, t.deleted_at
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SOFT_DELETED_PARENT', 'doctors', id::text, 'ACCOUNT', 'DELETED_PARENT',
       jsonb_build_object('column', 'deleted_at', 'value', deleted_at)
from u;

-- needs: staff
with s as (select h.id, h.vrk from _hslot h where h.tbl = 'staff' and h.cls = 'soft_delete'),
u as (
    update staff t set deleted_at = pg_temp.at(%(as_of)s::date - 20 - s.vrk, 0.6)
    from s where t.id = s.id
    returning t.id, t.deleted_at
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_SOFT_DELETED_PARENT', 'staff', id::text, 'ACCOUNT', 'DELETED_PARENT',
       jsonb_build_object('column', 'deleted_at', 'value', deleted_at)
from u;
