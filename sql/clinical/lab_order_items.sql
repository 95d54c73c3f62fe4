-- clinical.lab_order_items. Grain: one row per test requested on a lab order: one per analyte of a
-- legacy lab report, or, for a report with no analyte yet (pending, cancelled), one for the
-- ordered test itself.
-- The split is the shared rule etl.lab_report_analytes (sql/ddl/092_lab_helpers.sql): analytes of
-- lab_reports.results and of lab_result_value rows are combined per normalized name (one item per
-- analyte per report, never two). Legacy key '<report id>#<analyte key>' ('#*' for the ordered
-- test); the lab_result_value rows of an analyte map to its item too. The row that carries the
-- data (LOADED) is the report's for a results-JSON analyte, else the analyte's first
-- lab_result_value row (so deleting that row soft-deletes the item); the others are MERGED.
-- test: the analyte's catalog or derived test (etl.lab_test_id(code)). status: the report status
-- mapped by ref.codes 'map:lab_reports.status' (unmapped -> NULL with a WARN UNMAPPED_VALUE); a
-- name repeated within a report keeps its first entry (WARN DUPLICATE).
-- An entry without a name, or a results value that is not JSON array/object, is quarantined
-- (UNPARSEABLE_VALUE); items of a report whose order is not loaded, and lab_result_value rows
-- whose report is missing, are quarantined (ORPHAN_FK).
-- Incremental: every analyte of a report is re-derived when the report or any of its
-- lab_result_value rows changed.
with touched as (
    select t.key as report_key
    from _todo as t
    where t.legacy_table = 'lab_reports'

    union

    select v.lab_report_id::text
    from stg.lab_result_value as v
    join _todo as t on t.legacy_table = 'lab_result_value' and t.key = v._key
),

analytes as (
    select a.*
    from etl.lab_report_analytes(array(select report_key from touched)) as a
),

reports as (
    select r._key, r.status, coalesce(r.created_at, r.sample_collected_date) as created_at
    from stg.lab_reports as r
    where not r._deleted and r._key in (select report_key from touched)
),

items as (
    select
        a.report_key,
        a.analyte_key,
        a.source,
        a.lrv_keys,
        a.problem,
        a.is_duplicate,
        etl.canonical_id('clinical.lab_order_items', 'lab_reports', a.report_key || '#' || a.analyte_key) as order_item_id,
        o.order_id,
        lt.test_id,
        a.test_code,
        sm.display as status,
        r.status as legacy_status,
        r.created_at
    from analytes as a
    join reports as r on r._key = a.report_key
    left join clinical.lab_orders as o
        on o.order_id = etl.canonical_id('clinical.lab_orders', 'lab_reports', a.report_key)
       and o.deleted_at is null
    left join clinical.lab_tests as lt on lt.test_id = etl.lab_test_id(a.test_code) and lt.deleted_at is null
    left join ref.codes as sm on sm.system = 'map:lab_reports.status' and sm.code = lower(trim(r.status))
),

checked as (
    select
        i.*,
        case
            when i.problem is not null then i.problem
            when i.order_id is null then 'ORPHAN_FK'
        end as reason,
        array_remove(array[
            case when i.test_id is null then 'ORPHAN_FK' end,
            case when i.status is null then 'UNMAPPED_VALUE' end,
            case when i.is_duplicate then 'DUPLICATE' end
        ], null) as warns
    from items as i
),

explained as (
    select
        c.*,
        case
            when c.problem is not null
                then jsonb_build_object('column', 'results', 'rule', 'lab result entry without a readable name')
            when c.order_id is null
                then jsonb_build_object('column', 'lab_report_id', 'rule', 'lab order not loaded')
            when cardinality(c.warns) > 0
                then jsonb_build_object('warn', c.warns[1], 'warns', to_jsonb(c.warns))
        end as detail
    from checked as c
),

final as (
    -- the item itself, from the report
    select
        c.order_item_id,
        c.order_id,
        c.test_id,
        c.status,
        c.created_at,
        'lab_reports'::text as _legacy_table,
        c.report_key || '#' || c.analyte_key as _legacy_key,
        case when c.source = 'lab_result_value' then 'MERGED' else 'LOADED' end as _disposition,
        c.reason as _reason,
        -- warnings ride on the row that carries the data (counted once)
        case when c.reason is not null or c.source <> 'lab_result_value' then c.detail end as _detail
    from explained as c

    union all

    -- the lab_result_value rows of the analyte, merged into it
    select
        c.order_item_id,
        c.order_id,
        c.test_id,
        c.status,
        c.created_at,
        'lab_result_value',
        v.lrv_key,
        case when c.source = 'lab_result_value' and v.n = 1 then 'LOADED' else 'MERGED' end,
        c.reason,
        case when c.reason is not null or (c.source = 'lab_result_value' and v.n = 1) then c.detail end
    from explained as c
    cross join lateral unnest(c.lrv_keys) with ordinality as v (lrv_key, n)

    union all

    -- lab_result_value rows whose report is not in the legacy snapshot
    select
        null::uuid,
        null::uuid,
        null::uuid,
        null::text,
        null::timestamptz,
        'lab_result_value',
        v._key,
        'LOADED',
        'ORPHAN_FK',
        jsonb_build_object('column', 'lab_report_id', 'rule', 'lab report not found')
    from stg.lab_result_value as v
    join _todo as t on t.legacy_table = 'lab_result_value' and t.key = v._key
    where not v._deleted
      and not exists (select 1 from stg.lab_reports as r where r._key = v.lab_report_id::text and not r._deleted)
)

select * from final
