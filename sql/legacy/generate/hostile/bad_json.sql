-- JSON of unexpected shapes (slot class 'bad_json'): a scalar where an object is expected, a list
-- of lists, a deeply nested object, JSON null, and (doctors.availability_hours, TEXT in this
-- profile) text that is not JSON at all. One defect per value written, detail.shape says which.

-- users.permissions (jsonb; the reader expects an object of boolean flags)
-- needs: users
with s as (
    select h.id, mod(h.vrk - 1, 6) + 1 as k from _hslot h where h.tbl = 'users' and h.cls = 'bad_json'
),
v as (
    select s.id,
           (array['scalar', 'list_of_lists', 'nested', 'scalar', 'json_null', 'empty_list'])[s.k] as shape,
           (array['42', '[["read", "write"], ["admin"]]',
                  '{"modules": {"pharmacy": {"billing": {"edit": {"allowed": true, "until": null, "scopes": [["op"], ["ip"]]}}}}}',
                  '"all"', 'null', '[]'])[s.k]::jsonb as val
    from s
),
u as (update users t set permissions = v.val from v where t.id = v.id returning t.id, v.shape, v.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_BAD_JSON', 'users', id::text, 'ACCOUNT', 'UNEXPECTED_SHAPE',
       jsonb_build_object('column', 'permissions', 'shape', shape, 'value', val::text)
from u;

-- doctors.availability_hours (TEXT in this profile; the reader expects a JSON object)
-- needs: doctors
with s as (
    select h.id, mod(h.vrk - 1, 6) + 1 as k from _hslot h where h.tbl = 'doctors' and h.cls = 'bad_json'
),
v as (
    select s.id,
           (array['invalid_text', 'invalid_text', 'invalid_text', 'list_of_lists', 'scalar', 'empty_text'])[s.k] as shape,
           (array['{sessions: [morning, evening]', '{''workingDays'': [''Mon'', ''Tue'']}', '[object Object]',
                  '[["morning", "evening"], ["Mon", "Tue"]]', '"09:00-17:00"', ''])[s.k] as val
    from s
),
u as (update doctors t set availability_hours = v.val from v where t.id = v.id returning t.id, v.shape, v.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_BAD_JSON', 'doctors', id::text, 'ACCOUNT', 'UNEXPECTED_SHAPE',
       jsonb_build_object('column', 'availability_hours', 'shape', shape, 'value', val)
from u;

-- lab_reports.results (jsonb; the reader expects an array of analyte objects)
-- needs: lab_reports
with s as (
    select h.id, mod(h.vrk - 1, 5) + 1 as k from _hslot h where h.tbl = 'lab_reports' and h.cls = 'bad_json'
),
v as (
    select s.id,
           (array['scalar', 'list_of_lists', 'nested', 'scalar', 'json_null'])[s.k] as shape,
           (array['"see attached report"', '[["Haemoglobin", 12.5, "g/dL"], ["WBC", 7000, "cells/uL"]]',
                  '{"panel": {"cbc": {"Haemoglobin": {"value": 12.5, "unit": "g/dL", "flags": [["L"]]}}}}',
                  '12.5', 'null'])[s.k]::jsonb as val
    from s
),
u as (update lab_reports t set results = v.val from v where t.id = v.id returning t.id, v.shape, v.val)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'HOSTILE_BAD_JSON', 'lab_reports', id::text, 'ACCOUNT', 'UNEXPECTED_SHAPE',
       jsonb_build_object('column', 'results', 'shape', shape, 'value', val::text)
from u;
