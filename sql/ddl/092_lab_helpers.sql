-- Lab migration rules shared by clinical.lab_tests, lab_order_items and lab_results, kept in one
-- place: how a legacy lab report splits into analytes and which test each analyte is.
-- Idempotent (create or replace). The plpgsql function reads stg.* (created at staging time;
-- plpgsql bodies are resolved when called).

-- etl.lab_key before the length cap.
create or replace function etl.lab_key_full(name text)
returns text
language sql
immutable
parallel safe
as $$
    select nullif(trim(both '_' from
        case when octet_length(name) = length(name)  -- ASCII only (the usual case): no Unicode work
             then regexp_replace(lower(name), '[^a-z0-9]+', '_', 'g')
             else regexp_replace(lower(normalize(name, NFKC)),
                                 '([^a-z0-9\u0080-\U0010ffff]|[\u0080-\u00bf\u1680\u2000-\u206f\u3000-\u303f\ufeff])+',
                                 '_', 'g') end), '')
$$;

-- Normalized analyte / test name: Unicode NFKC, lower case, runs of anything but letters (of any
-- script) and digits -> '_', trimmed. 'Total Cholesterol' -> 'total_cholesterol'. Used as the
-- analyte part of legacy keys ('<report id>#<analyte key>', never containing '#') and to match
-- names to the catalog. A key longer than 100 characters (a 1 MB name) is its first 60 and the md5
-- of the whole: keys and derived test codes stay short enough to index.
create or replace function etl.lab_key(name text)
returns text
language sql
immutable
parallel safe
as $$
    select case
        when length(name) > 100 and length(etl.lab_key_full(name)) > 100
            then left(etl.lab_key_full(name), 60) || '_' || md5(etl.lab_key_full(name))
        else etl.lab_key_full(name)
    end
$$;

-- Code of a test the catalog (legacy lab_tests) does not have, derived from its name and, when
-- the report's test is in the catalog, its specimen: 'LEGACY-[<SPECIMEN>-]<NAME>', e.g.
-- 'LEGACY-BLOOD-HAEMOGLOBIN'. Deterministic; tests are deduplicated by (specimen, normalized
-- name), so 'RBC' in blood (million/uL) and 'RBC' in urine (/hpf) stay two tests.
create or replace function etl.lab_derived_code(name text, specimen text)
returns text
language sql
immutable
parallel safe
as $$ select 'LEGACY-' || coalesce(upper(etl.lab_key(specimen)) || '-', '') || upper(etl.lab_key(name)) $$;

-- A lab value that reads as a number (optionally with a comparator: '<0.1', '> 200').
create or replace function etl.lab_is_numeric(value text)
returns boolean
language sql
immutable
parallel safe
as $$ select coalesce(trim(value), '') ~ '^[<>]?=?\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$' $$;

-- Does lab_reports.results carry analytes? (the reports whose results clinical.lab_results is
-- responsible for through lab_reports; normalized reports are covered through lab_result_value)
create or replace function etl.lab_has_results(results jsonb)
returns boolean
language sql
immutable
parallel safe
as $$
    select results is not null
       and jsonb_typeof(results) <> 'null'
       and results not in ('[]'::jsonb, '{}'::jsonb)
$$;

-- Does a JSON object hold a list or an object in one of the fields a lab results entry is read from
-- (name, value, unit, range)? Such an entry is of an unexpected shape: quarantined
-- (UNPARSEABLE_VALUE), never loaded with NULLs or with JSON text as its value. Not an object: false.
create or replace function etl.lab_fields_nested(elem jsonb)
returns boolean
language sql
immutable
parallel safe
as $$
    select exists (
        select 1
        from jsonb_each(case when jsonb_typeof(elem) = 'object' then elem else '{}'::jsonb end) as f (k, v)
        where f.k in ('parameter', 'name', 'test', 'analyte', 'parameter_name', 'test_name', 'value', 'result',
                      'result_value', 'unit', 'units', 'normal_range', 'ref_range', 'reference_range')
          and jsonb_typeof(f.v) in ('array', 'object'))
$$;

-- The analytes of legacy lab reports: one row per (report, analyte), the single rule for the split.
--   * analytes come from lab_reports.results (an array of {parameter|name|test|analyte, value|result,
--     unit|units, normal_range|ref_range} objects, or an object {name: value | {value, unit}}) and
--     from lab_result_value rows (parameter_name, value, unit_id -> ref_code, normal_range). The two
--     are combined per normalized analyte name: a results entry wins, lab_result_value rows of the
--     same analyte are merged into it (lrv_keys), other lab_result_value rows add analytes. A
--     repeated name within one source keeps its first entry (is_duplicate on the kept row).
--   * a report with no analyte gives one row for the ordered test itself (analyte_key '*',
--     source 'ordered'); a results value that is neither an array nor an object gives one row '*'
--     with problem UNPARSEABLE_VALUE; an entry without a name gives '~<position>' with that problem.
--     So does every entry of an unexpected shape (never raises, never loads it with NULLs): an
--     array member that is not an object (a list of lists), a field holding a list or an object
--     (etl.lab_fields_nested), an object-form value that is a list, or an object without
--     value/result (a nested panel).
--   * ref_range: the entry's own range, else normal_ranges->name (exact, else normalized match).
--   * test: the catalog test (legacy lab_tests) whose normalized name equals the analyte's (same
--     specimen first), else a derived test etl.lab_derived_code(name, specimen), where specimen is
--     the sample_type of the catalog test the report's test_name names.
-- report_keys NULL = every live report. Deleted reports and lab_result_value rows are skipped.
create or replace function etl.lab_report_analytes(report_keys text[])
returns table (
    report_key text,
    analyte_key text,
    analyte_name text,
    ord integer,
    source text,
    lrv_keys text[],
    value text,
    unit text,
    ref_range text,
    problem text,
    unit_problem text,
    is_duplicate boolean,
    specimen text,
    test_code text,
    test_name text,
    is_catalog_test boolean,
    report_created_at timestamptz
)
language plpgsql
stable
as $$
begin
    return query
    with reports as (
        select r._key, r.test_name, r.results, r.normal_ranges, coalesce(r.created_at, r.sample_collected_date) as created_at,
               etl.lab_key(r.test_name) as name_key, upper(trim(r.test_name)) as code_key
        from stg.lab_reports as r
        where not r._deleted
          and (report_keys is null or r._key = any (report_keys))
    ),

    catalog as (
        select
            upper(trim(t.test_code)) as code,
            trim(t.test_name) as name,
            etl.lab_key(t.test_name) as name_key,
            nullif(trim(t.sample_type), '') as specimen
        from stg.lab_tests as t
        where not t._deleted and nullif(trim(t.test_code), '') is not null
    ),

    -- the catalog test a report names (by normalized name first, else by code): two hash joins,
    -- the names normalized once per row
    report_specimens as (
        select distinct on (m._key) m._key, m.specimen
        from (
            select r._key, c.specimen, true as by_name, c.code
            from reports as r join catalog as c on c.name_key = r.name_key
            union all
            select r._key, c.specimen, false, c.code
            from reports as r join catalog as c on c.code = r.code_key
        ) as m
        order by m._key, m.by_name desc, m.code
    ),

    json_entries as (
        select
            r._key,
            e.ord::integer as ord,
            coalesce(e.elem ->> 'parameter', e.elem ->> 'name', e.elem ->> 'test', e.elem ->> 'analyte',
                     e.elem ->> 'parameter_name', e.elem ->> 'test_name') as name,
            coalesce(e.elem ->> 'value', e.elem ->> 'result', e.elem ->> 'result_value') as value,
            coalesce(e.elem ->> 'unit', e.elem ->> 'units') as unit,
            coalesce(e.elem ->> 'normal_range', e.elem ->> 'ref_range', e.elem ->> 'reference_range') as own_range,
            jsonb_typeof(e.elem) = 'object' as is_object,
            etl.lab_fields_nested(e.elem) as is_nested
        from reports as r
        cross join lateral jsonb_array_elements(
            case when jsonb_typeof(r.results) = 'array' then r.results else '[]'::jsonb end) with ordinality as e (elem, ord)
        where jsonb_typeof(r.results) = 'array'

        union all

        select
            r._key,
            e.ord::integer,
            e.k,
            case when jsonb_typeof(e.v) = 'object'
                 then coalesce(e.v ->> 'value', e.v ->> 'result') else e.v #>> '{}' end,
            case when jsonb_typeof(e.v) = 'object' then coalesce(e.v ->> 'unit', e.v ->> 'units') end,
            case when jsonb_typeof(e.v) = 'object'
                 then coalesce(e.v ->> 'normal_range', e.v ->> 'ref_range', e.v ->> 'reference_range') end,
            true,
            jsonb_typeof(e.v) = 'array'
                or (jsonb_typeof(e.v) = 'object' and (not (e.v ?| array['value', 'result']) or etl.lab_fields_nested(e.v)))
        from reports as r
        cross join lateral jsonb_each(
            case when jsonb_typeof(r.results) = 'object' then r.results else '{}'::jsonb end) with ordinality as e (k, v, ord)
        where jsonb_typeof(r.results) = 'object'
    ),

    json_analytes as (
        select
            j._key,
            coalesce(case when j.is_object then etl.lab_key(j.name) end, '~' || j.ord) as analyte_key,
            nullif(trim(j.name), '') as name,
            j.ord,
            nullif(trim(j.value), '') as value,
            nullif(trim(j.unit), '') as unit,
            -- normal_ranges of another shape (a list, a scalar, a nested range) gives no range
            nullif(trim(coalesce(j.own_range,
                case when jsonb_typeof(r.normal_ranges -> j.name) in ('string', 'number')
                     then r.normal_ranges ->> j.name end,
                (select x.value #>> '{}' from jsonb_each(
                     case when jsonb_typeof(r.normal_ranges) = 'object' then r.normal_ranges else '{}'::jsonb end) as x
                 where etl.lab_key(x.key) = etl.lab_key(j.name) and jsonb_typeof(x.value) in ('string', 'number')
                 order by x.key limit 1))), '') as ref_range,
            case when not j.is_object or j.is_nested or etl.lab_key(j.name) is null then 'UNPARSEABLE_VALUE' end as problem
        from json_entries as j
        join reports as r on r._key = j._key
    ),

    lrv as (
        select
            v._key as lrv_key,
            v.lab_report_id::text as report_key,
            etl.lab_key(v.parameter_name) as analyte_key,
            nullif(trim(v.parameter_name), '') as name,
            nullif(trim(v.value), '') as value,
            nullif(trim(u.code), '') as unit,
            nullif(trim(v.normal_range), '') as ref_range,
            case when v.unit_id is not null and u.id is null then 'ORPHAN_FK' end as unit_problem,
            v.created_at
        from stg.lab_result_value as v
        join reports as r on r._key = v.lab_report_id::text
        left join stg.ref_code as u on u.id = v.unit_id and not u._deleted
        where not v._deleted
    ),

    lrv_analytes as (
        select
            l.report_key,
            coalesce(l.analyte_key, '~' || l.lrv_key) as analyte_key,
            array_agg(l.lrv_key order by l.created_at nulls last, l.lrv_key) as lrv_keys,
            (array_agg(l.name order by l.created_at nulls last, l.lrv_key))[1] as name,
            (array_agg(l.value order by l.created_at nulls last, l.lrv_key))[1] as value,
            (array_agg(l.unit order by l.created_at nulls last, l.lrv_key))[1] as unit,
            (array_agg(l.ref_range order by l.created_at nulls last, l.lrv_key))[1] as ref_range,
            (array_agg(l.unit_problem order by l.created_at nulls last, l.lrv_key))[1] as unit_problem,
            count(*) > 1 as is_duplicate,
            bool_or(l.analyte_key is null) as has_no_name
        from lrv as l
        group by l.report_key, coalesce(l.analyte_key, '~' || l.lrv_key)
    ),

    json_ranked as (
        select
            a.*,
            row_number() over (partition by a._key, a.analyte_key order by a.ord) as rn,
            count(*) over (partition by a._key, a.analyte_key) > 1 as is_duplicate
        from json_analytes as a
    ),

    combined as (
        select
            coalesce(j._key, l.report_key) as report_key,
            coalesce(j.analyte_key, l.analyte_key) as analyte_key,
            coalesce(j.name, l.name) as name,
            coalesce(j.ord, 1000000 + row_number() over (
                partition by l.report_key order by l.name, l.analyte_key))::integer as ord,
            case when j._key is not null then 'results' else 'lab_result_value' end as source,
            coalesce(l.lrv_keys, '{}'::text[]) as lrv_keys,
            case when j._key is not null then j.value else l.value end as value,
            case when j._key is not null then j.unit else l.unit end as unit,
            case when j._key is not null then j.ref_range else l.ref_range end as ref_range,
            case when j._key is not null then j.problem
                 when l.has_no_name then 'UNPARSEABLE_VALUE' end as problem,
            case when j._key is null then l.unit_problem end as unit_problem,
            coalesce(j.is_duplicate, false) or coalesce(l.is_duplicate, false) as is_duplicate
        from (select * from json_ranked where rn = 1) as j
        full join lrv_analytes as l on l.report_key = j._key and l.analyte_key = j.analyte_key
    ),

    -- reports without analytes: the ordered test itself, or an unparseable results value
    ordered as (
        select
            r._key as report_key,
            '*'::text as analyte_key,
            nullif(trim(r.test_name), '') as name,
            0 as ord,
            'ordered'::text as source,
            '{}'::text[] as lrv_keys,
            null::text as value,
            null::text as unit,
            null::text as ref_range,
            case when etl.lab_has_results(r.results) and jsonb_typeof(r.results) not in ('array', 'object')
                 then 'UNPARSEABLE_VALUE' end as problem,
            null::text as unit_problem,
            false as is_duplicate
        from reports as r
        where not exists (select 1 from combined as c where c.report_key = r._key)
    ),

    analytes as (
        select * from combined
        union all
        select * from ordered
    ),

    with_specimen as (
        select a.*, rs.specimen, etl.lab_key(a.name) as name_key
        from analytes as a
        left join report_specimens as rs on rs._key = a.report_key
    ),

    -- the analyte's catalog test: same normalized name, same specimen first, then by code (one
    -- hash join; (report_key, analyte_key) is unique in analytes)
    catalog_match as (
        select distinct on (w.report_key, w.analyte_key) w.report_key, w.analyte_key, c.code, c.name
        from with_specimen as w
        join catalog as c on c.name_key = w.name_key
        order by w.report_key, w.analyte_key, (c.specimen is not distinct from w.specimen) desc, c.code, c.name
    ),

    tested as (
        select w.*, cm.code as catalog_code, cm.name as catalog_name
        from with_specimen as w
        left join catalog_match as cm on cm.report_key = w.report_key and cm.analyte_key = w.analyte_key
    )

    select
        t.report_key,
        t.analyte_key,
        t.name,
        t.ord,
        t.source,
        t.lrv_keys,
        t.value,
        t.unit,
        t.ref_range,
        t.problem,
        t.unit_problem,
        t.is_duplicate,
        t.specimen,
        coalesce(t.catalog_code, case when t.name is not null then etl.lab_derived_code(t.name, t.specimen) end),
        coalesce(t.catalog_name, t.name),
        t.catalog_code is not null,
        r.created_at
    from tested as t
    join reports as r on r._key = t.report_key;
end;
$$;

comment on function etl.lab_report_analytes(text[]) is
    'Legacy lab reports split into analytes (results JSON + lab_result_value, one row per report and analyte) with their test';

-- The canonical id of a lab test, by its code (catalog and derived tests alike).
create or replace function etl.lab_test_id(code text)
returns uuid
language sql
immutable
parallel safe
as $$ select etl.canonical_id('clinical.lab_tests', 'code', upper(trim(code))) $$;
