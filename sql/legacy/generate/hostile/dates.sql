-- Impossible dates in TEXT (slot class 'impossible_date'), in the date columns this profile drifts
-- to TEXT: patients.date_of_birth and medicine_batches.expiry_date. (The extreme dates 0001-01-01
-- and 9999-12-31 go into every real date/timestamp column; the generator writes those.)

-- needs: patients
with s as (
    select h.id, (array['31/02/2020', '2020-02-30', '0000-00-00', '2021-13-01', '29-02-2023', '31-04-1985',
                        '1985-06-31', '30/02/1990'])[mod(h.vrk - 1, 8) + 1] as val
    from _hslot h where h.tbl = 'patients' and h.cls = 'impossible_date'
),
u as (update patients t set date_of_birth = s.val from s where t.id = s.id returning t.id, s.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_IMPOSSIBLE_DATE', 'patients', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', 'date_of_birth', 'value', val)
from u;

-- needs: medicine_batches
with s as (
    select h.id, (array['31/02/2027', '2027-02-30', '13/2027', '00/00/0000', '2027-04-31',
                        '2027-00-15'])[mod(h.vrk - 1, 6) + 1] as val
    from _hslot h where h.tbl = 'medicine_batches' and h.cls = 'impossible_date'
),
u as (update medicine_batches t set expiry_date = s.val from s where t.id = s.id returning t.id, s.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_IMPOSSIBLE_DATE', 'medicine_batches', id::text, 'ACCOUNT', 'UNPARSEABLE_VALUE',
       jsonb_build_object('column', 'expiry_date', 'value', val)
from u;
