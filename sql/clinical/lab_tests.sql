-- clinical.lab_tests. Grain: one row per orderable test or analyte, keyed by its code.
-- Sources:
--   * lab_tests (the catalog): code = upper(trim(test_code)), name = test_name, specimen_type =
--     sample_type. Two catalog rows with the same code are one test (the first by key LOADED, the
--     other MERGED). A row without a code is quarantined (UNPARSEABLE_VALUE).
--   * tests named only in lab reports: the analytes of the results JSON / lab_result_value rows,
--     and the report's test_name when a report has no analyte, that match no catalog test by
--     normalized name. Their code is derived: etl.lab_derived_code(name, specimen) =
--     'LEGACY-[<SPECIMEN>-]<NAME>' (e.g. LEGACY-BLOOD-HAEMOGLOBIN), so they are deduplicated by
--     normalized name within a specimen (blood RBC and urine RBC stay two tests). Name: the most
--     frequent spelling (then the smallest); created_at: the earliest report naming it. The split and the matching are the shared rule
--     etl.lab_report_analytes (sql/ddl/092_lab_helpers.sql). Provenance: ('lab_test_code', <code>).
--     Derived tests are recomputed from every staged report whenever a lab source changed.
-- test_id = etl.lab_test_id(code) for both kinds, so order items find their test by code.
with catalog as (
    select s.*
    from stg.lab_tests as s
    join _todo as t on t.legacy_table = 'lab_tests' and t.key = s._key
    where not s._deleted
),

catalog_tests as (
    select
        etl.lab_test_id(c.test_code) as test_id,
        upper(trim(c.test_code)) as code,
        trim(c.test_name) as name,
        nullif(trim(c.sample_type), '') as specimen_type,
        c.created_at,
        'lab_tests'::text as _legacy_table,
        c._key as _legacy_key,
        'LOADED'::text as _disposition,
        case when nullif(trim(c.test_code), '') is null then 'UNPARSEABLE_VALUE' end as _reason,
        case when nullif(trim(c.test_code), '') is null
             then jsonb_build_object('column', 'test_code', 'rule', 'catalog test without a code') end as _detail
    from catalog as c
),

named_in_reports as (
    select a.test_code, a.test_name, a.specimen, count(*) as n, min(a.report_created_at) as created_at
    from etl.lab_report_analytes(null) as a
    where not a.is_catalog_test and a.test_code is not null
    group by a.test_code, a.test_name, a.specimen
),

derived_tests as (
    select distinct on (r.test_code)
        etl.lab_test_id(r.test_code) as test_id,
        r.test_code as code,
        r.test_name as name,
        r.specimen as specimen_type,
        min(r.created_at) over (partition by r.test_code) as created_at,
        'lab_test_code'::text as _legacy_table,
        r.test_code as _legacy_key,
        'LOADED'::text as _disposition,
        null::text as _reason,
        null::jsonb as _detail
    from named_in_reports as r
    where exists (select 1 from _todo)
    order by r.test_code, r.n desc, r.test_name
),

final as (
    select * from catalog_tests
    union all
    select * from derived_tests
)

select * from final
