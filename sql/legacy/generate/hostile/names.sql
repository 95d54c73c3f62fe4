-- Hostile names (slot class 'name'): a Tamil, Devanagari or accented name (NFC, or NFD so that two
-- spellings differ only by Unicode form), a one-word name, or a name that is only an honorific.
-- One defect per value written. Statements are separated by a semicolon at the end of a line; a
-- statement runs only when the tables of its "needs:" line are tables of the shape.

-- needs: patients
with s as (
    select h.id, pg_temp.hname_variant(h.vrk) as variant,
           pg_temp.hname(%(seed)s, 'patients', h.vrk, %(h_tamil)s, %(h_deva)s, %(h_accented)s, %(h_one_word)s,
                         %(h_honorific)s) as v
    from _hslot h where h.tbl = 'patients' and h.cls = 'name'
),
u as (update patients t set name = s.v from s where t.id = s.id returning t.id, s.variant, s.v)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select pg_temp.hname_kind(variant), 'patients', id::text, 'ACCOUNT',
       case when variant = 'honorific' then 'PLACEHOLDER_VALUE' else 'VALID_UNUSUAL' end,
       jsonb_build_object('column', 'name', 'value', v, 'variant', variant)
from u;

-- needs: users
with s as (
    select h.id, pg_temp.hname_variant(h.vrk) as variant,
           pg_temp.hname(%(seed)s, 'users', h.vrk, %(h_tamil)s, %(h_deva)s, %(h_accented)s, %(h_one_word)s,
                         %(h_honorific)s) as v
    from _hslot h where h.tbl = 'users' and h.cls = 'name'
),
u as (update users t set name = s.v from s where t.id = s.id returning t.id, s.variant, s.v)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select pg_temp.hname_kind(variant), 'users', id::text, 'ACCOUNT',
       case when variant = 'honorific' then 'PLACEHOLDER_VALUE' else 'VALID_UNUSUAL' end,
       jsonb_build_object('column', 'name', 'value', v, 'variant', variant)
from u;

-- needs: billing
with s as (
    select h.id, pg_temp.hname_variant(h.vrk) as variant,
           pg_temp.hname(%(seed)s, 'billing', h.vrk, %(h_tamil)s, %(h_deva)s, %(h_accented)s, %(h_one_word)s,
                         %(h_honorific)s) as v
    from _hslot h where h.tbl = 'billing' and h.cls = 'name'
),
u as (update billing t set customer_name = s.v from s where t.id = s.id returning t.id, s.variant, s.v)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select pg_temp.hname_kind(variant), 'billing', id::text, 'ACCOUNT',
       case when variant = 'honorific' then 'PLACEHOLDER_VALUE' else 'VALID_UNUSUAL' end,
       jsonb_build_object('column', 'customer_name', 'value', v, 'variant', variant)
from u;

-- staff: the name split into first_name / last_name ('' when there is no second word)
-- needs: staff
with s as (
    select h.id, pg_temp.hname_variant(h.vrk) as variant,
           pg_temp.hname(%(seed)s, 'staff', h.vrk, %(h_tamil)s, %(h_deva)s, %(h_accented)s, %(h_one_word)s,
                         %(h_honorific)s) as v
    from _hslot h where h.tbl = 'staff' and h.cls = 'name'
),
u as (
    update staff t set first_name = split_part(s.v, ' ', 1),
                       last_name = substr(s.v, length(split_part(s.v, ' ', 1)) + 2)
    from s where t.id = s.id
    returning t.id, s.variant, t.first_name, t.last_name
)
insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select pg_temp.hname_kind(variant), 'staff', id::text, 'ACCOUNT',
       case when variant = 'honorific' then 'PLACEHOLDER_VALUE' else 'VALID_UNUSUAL' end,
       jsonb_build_object('column', c.col, 'value', c.val, 'variant', variant)
from u cross join lateral (values ('first_name', u.first_name), ('last_name', u.last_name)) c(col, val);
