-- pharmacy.items. Grain: one row per real medicine (stock item).
-- Sources: medications and medicines where it is a table (blueprint profile; in the live database it
-- is a view over medications and is not staged, so it yields nothing). The backup copy of
-- medications is never read (excluded at staging). The drug master is matched as a whole (a row
-- that arrives later can change any group and its survivor), so every staged row is emitted on each
-- run that has work; the engine writes only what differs.
--
-- Normalized per row (helpers in sql/ddl/050_pharmacy.sql, vocabularies in sql/ref/codes.d/pharmacy.sql):
--   code          pharmacy.norm_code: blanks removed, upper case (a code over 64 characters is none);
--   name          pharmacy.clean_text for storage (NFC, blanks collapsed, case kept);
--                 pharmacy.match_name for matching only (lower case, '500 mg' = '500mg');
--   strength      the strength column when it states a number with a unit; when the column is empty,
--                 the strength in the name (WARN EMBEDDED_VALUE); a bare number stays unknown
--                 (WARN MISSING_UNIT when it is the column's);
--   form          map:medications.dosage_form of the column (WARN VOCAB_VARIANT for a variant
--                 spelling, UNMAPPED_VALUE and unknown when unlisted); when the column is empty, the
--                 one form word of the name ('Tab', 'Syp'), else unknown;
--   manufacturer  map:medications.manufacturer (case, known misspellings; a value mapped to '',
--                 such as fssai, is no manufacturer); else as written; matched case-insensitively.
-- A row without a name cannot be an item: quarantined MISSING_VALUE (detail names the column only).
--
-- Matching, in this order (never across contradicting strength, form or manufacturer):
--   1 SAME_CODE: rows with the same normalized code, unless their known attributes contradict
--     (then each row goes on alone and they are reported AMBIGUOUS_MATCH);
--   2 SAME_ATTRIBUTES: the same normalized (name, strength, form, manufacturer), unknown = unknown;
--   3 SAME_NAME_COMPATIBLE: the same normalized name with an attribute unknown on one side and
--     nothing contradicting. Per normalized name: when the rows' known values never disagree, they
--     are one item. Otherwise the attributes that disagree split the name: rows that know all of
--     them form one item per combination; a row that does not know one of them joins the only
--     combination compatible with it; compatible with none or several, it stays an item of its own
--     (with the rows identical to it) reported AMBIGUOUS_MATCH, as are two such items compatible
--     with each other and look-alike names (equal once spaces and punctuation go) that do not
--     contradict. Names that differ are never merged ('NULL matches anything' is not a rule).
--   REVIEWER: a reviewer's decision (ref.codes system 'review:pharmacy.items': code = legacy id of
--     the row to merge, display = legacy id of the row to merge into; sql/ref/codes.d/) merges the
--     first row's group into the second's; the second's survivor stays the survivor.
-- Survivor of a group (its item's id, flags and legacy_attributes): the row from medications
-- before medicines, then with a code of the import scheme ('MED-' + 24 hex), then of the seed
-- scheme ('MED-' + 32 hex), then any code, then none; ties by legacy key. Item id =
-- etl.canonical_id('pharmacy.items', survivor table, survivor key). Name: the first written in
-- mixed case (an import repeat may be all capitals), else the survivor's. Code, strength, form,
-- manufacturer, generic name, HSN code and GST rate: the first known, the survivor's first, then in
-- that order (a reviewer's merge keeps the survivor of the group merged into).
-- Code: the group's first code as above. When no row has one, when another item keeps it (two
-- contradicting rows sharing a code: the better-ranked survivor keeps it) or when a row of
-- pharmacy.items with another id holds it (the unique code covers soft-deleted rows), the item gets
-- 'MIG-' + 24 hex of its survivor's key (WARN CODE_ASSIGNED). Every other code of the group is kept
-- in legacy_attributes.legacy_codes: pharmacy.item_for_code() resolves any legacy code.
-- Every merged row is MERGED into the survivor's item with detail {"rule": ..., "survivor": ...}.
with recursive medications as (
    select
        'medications'::text as legacy_table,
        s._key as legacy_key,
        to_jsonb(s) - array['_key', '_hash', '_change_seq', '_deleted', '_xmin'] as j
    from stg.medications as s
    where not s._deleted
),

medicines as (
    select
        'medicines'::text as legacy_table,
        s._key as legacy_key,
        to_jsonb(s) - array['_key', '_hash', '_change_seq', '_deleted', '_xmin'] as j
    from stg.medicines as s
    where not s._deleted
),

form_map as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:medications.dosage_form'
),

manufacturer_map as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:medications.manufacturer'
),

status_map as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:medications.status'
),

decisions as (
    select btrim(c.code) as merge_id, btrim(c.display) as into_id
    from ref.codes as c
    where c.system = 'review:pharmacy.items'
),

held_codes as (
    select i.code, i.item_id
    from pharmacy.items as i
    where i.code is not null
),

-- === per row ====================================================================================

legacy as materialized (
    select * from medications
    union all
    select * from medicines
),

texts as materialized (
    select
        l.legacy_table,
        l.legacy_key,
        l.j,
        pharmacy.norm_code(l.j ->> 'medication_code') as code,
        pharmacy.clean_text(l.j ->> 'medication_code') is not null as has_code_text,
        pharmacy.clean_text(l.j ->> 'name') as name,
        pharmacy.match_name(l.j ->> 'name') as name_key,
        pharmacy.clean_text(l.j ->> 'strength') as strength_text,
        pharmacy.strength_of(l.j ->> 'strength') as strength_column,
        pharmacy.strength_of(l.j ->> 'name') as strength_in_name,
        pharmacy.clean_text(l.j ->> 'dosage_form') as form_text,
        pharmacy.clean_text(l.j ->> 'manufacturer') as manufacturer_text,
        lower(pharmacy.clean_text(l.j ->> 'status')) as status_text,
        l.j ->> 'is_active' as is_active_text,
        pharmacy.clean_text(l.j ->> 'gst_percent') as gst_text,
        case when l.j ->> 'created_at' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' then (l.j ->> 'created_at')::timestamptz end as created_at,
        coalesce((l.j ->> 'is_external') = 'true', false)
            or coalesce(lower(pharmacy.clean_text(l.j ->> 'category')) = 'external', false) as external_flag
    from legacy as l
),

normalized as materialized (
    select
        t.*,
        case when t.strength_column is not null then t.strength_column
             when t.strength_text is null then t.strength_in_name end as strength,
        case when t.form_text is null then nf.form else fm.display end as form,
        case when mm.code is not null then nullif(mm.display, '') else t.manufacturer_text end as manufacturer,
        coalesce(sm.display = 'false', false) or coalesce(t.is_active_text = 'false', false) as inactive,
        case when t.gst_text ~ '^[0-9]{1,3}(\.[0-9]{1,6})?$'
             then case when t.gst_text::numeric <= 100 then round(t.gst_text::numeric, 2) end end as gst_rate,
        array_remove(array[
            case when t.strength_text is null and t.strength_in_name is not null then 'EMBEDDED_VALUE'
                 when t.form_text is null and nf.form is not null then 'EMBEDDED_VALUE' end,
            case when t.strength_text is not null and t.strength_column is null then 'MISSING_UNIT' end,
            case when t.form_text is not null and fm.code is null then 'UNMAPPED_VALUE'
                 when t.status_text is not null and sm.code is null then 'UNMAPPED_VALUE' end,
            case when fm.code is not null and t.form_text is distinct from initcap(fm.display) then 'VOCAB_VARIANT'
                 when mm.code is not null and t.manufacturer_text is distinct from mm.display then 'VOCAB_VARIANT' end,
            case when t.has_code_text and t.code is null then 'UNPARSEABLE_VALUE'
                 when t.gst_text is not null and not coalesce(t.gst_text ~ '^[0-9]{1,3}(\.[0-9]{1,6})?$', false)
                     then 'UNPARSEABLE_VALUE' end
        ], null) as warns
    from texts as t
    left join form_map as fm on fm.code = lower(t.form_text)
    left join manufacturer_map as mm on mm.code = lower(t.manufacturer_text)
    left join status_map as sm on sm.code = t.status_text
    left join lateral (
        -- the dosage form a name states: its one form word (none or two different: unknown)
        select case when count(distinct f.display) = 1 then min(f.display) end as form
        from regexp_split_to_table(t.name_key, '[^[:alnum:]]+') as w (word)
        join form_map as f on f.code = w.word
        where t.form_text is null
    ) as nf on true
),

-- the rows that can be items, ranked in survivor order (rk 1 = the best survivor of all)
ranked as (
    select
        n.*,
        lower(n.manufacturer) as manufacturer_key,
        row_number() over (
            order by n.legacy_table <> 'medications', pharmacy.code_scheme(n.code),
                     n.legacy_key collate "C", n.legacy_table) as rk
    from normalized as n
    where n.name is not null
),

-- === rule 1: the same code ======================================================================

code_groups as (
    select
        r.code,
        count(distinct r.strength) <= 1 and count(distinct r.form) <= 1
            and count(distinct r.manufacturer_key) <= 1 as consistent
    from ranked as r
    where r.code is not null
    group by r.code
),

in_units as (
    select
        r.*,
        case when cg.consistent then min(r.rk) over (partition by r.code)
             else r.rk end as unit
    from ranked as r
    left join code_groups as cg on cg.code = r.code
),

units as (
    select
        u.unit,
        max(u.strength) as strength,
        max(u.form) as form,
        max(u.manufacturer_key) as manufacturer_key,
        (array_agg(u.name_key order by u.rk))[1] as name_key
    from in_units as u
    group by u.unit
),

-- === rules 2 and 3: per normalized name =========================================================

names as (
    select
        u.name_key,
        count(distinct u.strength) > 1 as split_strength,
        count(distinct u.form) > 1 as split_form,
        count(distinct u.manufacturer_key) > 1 as split_manufacturer
    from units as u
    group by u.name_key
),

placed as (
    select
        u.*,
        nm.split_strength,
        nm.split_form,
        nm.split_manufacturer,
        not (nm.split_strength or nm.split_form or nm.split_manufacturer) as agreeing,
        (not nm.split_strength or u.strength is not null)
            and (not nm.split_form or u.form is not null)
            and (not nm.split_manufacturer or u.manufacturer_key is not null) as complete
    from units as u
    join names as nm on nm.name_key = u.name_key
),

-- a name whose rows agree: one group; a split name: one group per combination of the values that
-- disagree, among the rows that know them all
anchored as (
    select
        p.unit,
        p.name_key,
        case when p.agreeing then min(p.unit) over (partition by p.name_key)
             else min(p.unit) over (
                 partition by p.name_key,
                              case when p.split_strength then p.strength end,
                              case when p.split_form then p.form end,
                              case when p.split_manufacturer then p.manufacturer_key end) end as grp,
        p.strength,
        p.form,
        p.manufacturer_key
    from placed as p
    where p.complete
),

-- rows of a split name that lack a value that disagrees: the groups they are compatible with
partial as (
    select
        p.unit,
        p.name_key,
        p.strength,
        p.form,
        p.manufacturer_key,
        count(distinct a.grp) as compatible,
        min(a.grp) as only_grp
    from placed as p
    left join anchored as a
        on a.name_key = p.name_key
       and (not p.split_strength or p.strength is null or a.strength = p.strength)
       and (not p.split_form or p.form is null or a.form = p.form)
       and (not p.split_manufacturer or p.manufacturer_key is null or a.manufacturer_key = p.manufacturer_key)
    where not p.complete
    group by p.unit, p.name_key, p.strength, p.form, p.manufacturer_key
),

unit_groups as (
    select a.unit, a.grp
    from anchored as a

    union all

    select p.unit, p.only_grp
    from partial as p
    where p.compatible = 1

    union all

    -- compatible with no group or with several: an item of its own, with the rows identical to it
    select p.unit,
           min(p.unit) over (partition by p.name_key, p.strength, p.form, p.manufacturer_key)
    from partial as p
    where p.compatible <> 1
),

grouped as (
    select
        u.*,
        g.grp,
        min(u.rk) over (partition by g.grp) as grp_best
    from in_units as u
    join unit_groups as g on g.unit = u.unit
),

-- the known values of each group (its rows never disagree)
groups as (
    select
        g.grp,
        min(g.rk) as best,
        max(g.name_key) filter (where g.rk = g.grp_best) as name_key,
        max(g.strength) as strength,
        max(g.form) as form,
        max(g.manufacturer_key) as manufacturer_key
    from grouped as g
    group by g.grp
),

-- === the review list: pairs neither clearly the same nor clearly different ======================

ambiguous_pairs as (
    -- a row compatible with several groups of its name, and each of those groups
    select distinct g1.grp as a, a.grp as b, false as same_code
    from partial as p
    join unit_groups as g1 on g1.unit = p.unit
    join anchored as a
        on a.name_key = p.name_key
       and (p.strength is null or a.strength is null or a.strength = p.strength)
       and (p.form is null or a.form is null or a.form = p.form)
       and (p.manufacturer_key is null or a.manufacturer_key is null or a.manufacturer_key = p.manufacturer_key)
    where p.compatible > 1

    union

    -- two groups of one name, or of look-alike names, whose known values do not contradict
    select x.grp, y.grp, false
    from groups as x
    join groups as y
        on regexp_replace(y.name_key, '[^[:alnum:]]+', '', 'g') = regexp_replace(x.name_key, '[^[:alnum:]]+', '', 'g')
       and y.grp > x.grp
    where (x.strength is null or y.strength is null or x.strength = y.strength)
      and (x.form is null or y.form is null or x.form = y.form)
      and (x.manufacturer_key is null or y.manufacturer_key is null or x.manufacturer_key = y.manufacturer_key)

    union

    -- rows that share a code but contradict each other
    select distinct x.grp, y.grp, true
    from grouped as x
    join grouped as y on y.code = x.code and y.grp > x.grp
    join code_groups as cg on cg.code = x.code and not cg.consistent
),

-- === reviewers' decisions =======================================================================

review_edges as (
    select distinct m.grp as merged, i.grp as into_grp
    from decisions as d
    join grouped as m on m.legacy_key = d.merge_id
    join grouped as i on i.legacy_key = d.into_id
    where m.grp <> i.grp
),

review_links as (
    select e.merged as a, e.into_grp as b from review_edges as e
    union
    select e.into_grp, e.merged from review_edges as e
),

review_reach (grp, reached) as (
    select l.a, l.a from review_links as l
    union
    select r.grp, l.b
    from review_reach as r
    join review_links as l on l.a = r.reached
),

review_components as (
    select
        r.grp,
        min(r.reached) as component,
        -- IN (a hashed subplan), not a correlated EXISTS that scans every edge once per group;
        -- coalesce: EXISTS is never NULL
        coalesce(r.grp in (select e.into_grp from review_edges as e), false) as is_target,
        coalesce(r.grp in (select e.merged from review_edges as e), false) as is_merged
    from review_reach as r
    group by r.grp
),

review_roots as (
    -- the group the component merges into: a target no decision merges away, else the first target
    select
        c.component,
        coalesce(min(c.grp) filter (where c.is_target and not c.is_merged),
                 min(c.grp) filter (where c.is_target)) as root
    from review_components as c
    group by c.component
),

final_groups as (
    select g.grp, coalesce(rr.root, g.grp) as final_grp
    from groups as g
    left join review_components as rc on rc.grp = g.grp
    left join review_roots as rr on rr.component = rc.component
),

-- === items ======================================================================================

members as (
    select
        r.*,
        fg.final_grp,
        s.best as survivor_rk
    from grouped as r
    join final_groups as fg on fg.grp = r.grp
    join groups as s on s.grp = fg.final_grp
),

items as (
    select
        m.final_grp,
        m.survivor_rk,
        (array_agg(m.code order by m.rk <> m.survivor_rk, m.rk) filter (where m.code is not null))[1] as wanted_code,
        -- the name as written in mixed case if a row has it (an import repeat may be all capitals)
        (array_agg(m.name order by m.rk <> m.survivor_rk, m.rk) filter (where m.name <> upper(m.name) and m.name <> lower(m.name)))[1]
            as mixed_case_name,
        (array_agg(m.strength order by m.rk <> m.survivor_rk, m.rk) filter (where m.strength is not null))[1] as strength,
        (array_agg(m.form order by m.rk <> m.survivor_rk, m.rk) filter (where m.form is not null))[1] as form,
        (array_agg(m.manufacturer order by m.rk <> m.survivor_rk, m.rk) filter (where m.manufacturer is not null))[1] as manufacturer,
        (array_agg(pharmacy.clean_text(m.j ->> 'generic_name') order by m.rk <> m.survivor_rk, m.rk)
            filter (where pharmacy.clean_text(m.j ->> 'generic_name') is not null))[1] as generic_name,
        (array_agg(pharmacy.clean_text(m.j ->> 'hsn_code') order by m.rk <> m.survivor_rk, m.rk)
            filter (where pharmacy.clean_text(m.j ->> 'hsn_code') is not null))[1] as hsn_code,
        (array_agg(m.gst_rate order by m.rk <> m.survivor_rk, m.rk) filter (where m.gst_rate is not null))[1] as gst_rate,
        min(m.created_at) as created_at,
        array_agg(distinct m.code) filter (where m.code is not null) as codes
    from members as m
    group by m.final_grp, m.survivor_rk
),

item_ids as (
    select
        it.*,
        s.legacy_table as survivor_table,
        s.legacy_key as survivor_key,
        coalesce(it.mixed_case_name, s.name) as name,
        not s.inactive as is_active,
        s.external_flag or coalesce(lower(it.manufacturer) = 'external pharmacy', false) as is_external,
        s.j - array['id', 'medication_code', 'name', 'generic_name', 'hsn_code', 'gst_percent', 'is_external',
                    'created_at', 'updated_at'] as attributes,
        etl.canonical_id('pharmacy.items', s.legacy_table, s.legacy_key) as item_id,
        'MIG-' || upper(left(md5('pharmacy.items|' || s.legacy_table || '|' || s.legacy_key), 24)) as assigned_code,
        row_number() over (partition by it.wanted_code order by it.survivor_rk) as code_rank
    from items as it
    join ranked as s on s.rk = it.survivor_rk
),

coded as (
    select
        i.*,
        case when i.wanted_code is null then 'no legacy code'
             when i.code_rank > 1 then 'code kept by another item'
             when exists (select 1 from held_codes as h where h.code = i.wanted_code and h.item_id <> i.item_id)
                 then 'code held by another item id' end as code_problem
    from item_ids as i
),

ambiguous as (
    select
        fa.final_grp,
        -- the first 20 (the count says how many)
        to_jsonb((array_agg(distinct jsonb_build_object('legacy_table', o.survivor_table, 'legacy_key', o.survivor_key)))[1:20])
            as others,
        count(distinct o.final_grp) as n_others
    from ambiguous_pairs as p
    cross join lateral (values (p.a, p.b), (p.b, p.a)) as v (this_grp, other_grp)
    join final_groups as fa on fa.grp = v.this_grp
    join final_groups as fb on fb.grp = v.other_grp
    join coded as x on x.final_grp = fa.final_grp
    join coded as o on o.final_grp = fb.final_grp
    where fa.final_grp <> fb.final_grp
      -- still compatible once the reviewers' merges are made (a shared code is reported regardless)
      and (p.same_code
           or ((x.strength is null or o.strength is null or x.strength = o.strength)
               and (x.form is null or o.form is null or x.form = o.form)
               and (x.manufacturer is null or o.manufacturer is null or lower(x.manufacturer) = lower(o.manufacturer))))
    group by fa.final_grp
),

item_rows as (
    select
        c.*,
        case when c.code_problem is null then c.wanted_code else c.assigned_code end as item_code,
        a.others as ambiguous_with,
        a.n_others as ambiguous_count
    from coded as c
    left join ambiguous as a on a.final_grp = c.final_grp
),

final as (
    select
        i.item_id,
        i.item_code as code,
        i.name,
        i.form,
        i.strength,
        i.is_active,
        i.manufacturer,
        i.generic_name,
        i.hsn_code,
        i.gst_rate,
        i.is_external,
        i.attributes || jsonb_build_object(
            'legacy_codes', coalesce(to_jsonb(array_remove(i.codes, i.item_code)), '[]'::jsonb)) as legacy_attributes,
        coalesce(i.created_at, now()) as created_at,
        m.legacy_table as _legacy_table,
        m.legacy_key as _legacy_key,
        case when m.rk = m.survivor_rk then 'LOADED' else 'MERGED' end as _disposition,
        null::text as _reason,
        nullif(jsonb_strip_nulls(jsonb_build_object(
            'rule', case when m.rk = m.survivor_rk then null
                         when m.final_grp <> m.grp then 'REVIEWER'
                         when m.code = s.code then 'SAME_CODE'
                         when (mu.name_key, mu.strength, mu.form, mu.manufacturer_key)
                              is not distinct from (su.name_key, su.strength, su.form, su.manufacturer_key)
                             then 'SAME_ATTRIBUTES'
                         else 'SAME_NAME_COMPATIBLE' end,
            'survivor', case when m.rk <> m.survivor_rk
                             then jsonb_build_object('legacy_table', i.survivor_table, 'legacy_key', i.survivor_key) end,
            'warn', w.warns[1],
            'warns', case when cardinality(w.warns) > 0 then to_jsonb(w.warns) end,
            'ambiguous_with', case when m.rk = m.survivor_rk then i.ambiguous_with end,
            'ambiguous_count', case when m.rk = m.survivor_rk then i.ambiguous_count end,
            'code', case when m.rk = m.survivor_rk then i.code_problem end)), '{}'::jsonb) as _detail
    from members as m
    join item_rows as i on i.final_grp = m.final_grp
    join ranked as s on s.rk = m.survivor_rk
    join units as mu on mu.unit = m.unit
    join in_units as su_row on su_row.rk = m.survivor_rk
    join units as su on su.unit = su_row.unit
    cross join lateral (
        select m.warns
            || case when m.rk = m.survivor_rk and i.ambiguous_with is not null then array['AMBIGUOUS_MATCH'] else array[]::text[] end
            || case when m.rk = m.survivor_rk and i.code_problem is not null then array['CODE_ASSIGNED'] else array[]::text[] end
            as warns
    ) as w

    union all

    select
        null::uuid, null::text, null::text, null::text, null::text, null::boolean, null::text, null::text,
        null::text, null::numeric, null::boolean, null::jsonb, null::timestamptz,
        n.legacy_table,
        n.legacy_key,
        'LOADED',
        'MISSING_VALUE',
        jsonb_build_object('column', 'name', 'rule', 'a drug master row without a name cannot be an item')
    from normalized as n
    where n.name is null
)

select * from final
