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
-- An entry without a name or of an unexpected shape (a list of lists, a list or an object where a
-- value is expected, a nested panel), or a results value that is not JSON array/object, is
-- quarantined (UNPARSEABLE_VALUE; detail names the column and the rule, never the value); items
-- of a report whose order is not loaded, and lab_result_value rows
-- whose report is missing, are quarantined (ORPHAN_FK).
-- Incremental: every analyte of a report is re-derived when the report or any of its
-- lab_result_value rows changed.
with touched as (
    select t.report_key
    from etl.lab_touched_reports() as t
),

analytes as (
    select a.*
    from etl.lab_report_analytes(array(select report_key from touched)) as a
),

reports as (
    select r._key, r.status
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
        a.report_created_at as created_at
    from analytes as a
    join reports as r on r._key = a.report_key
    left join clinical.lab_orders as o
        on o.order_id = etl.canonical_id('clinical.lab_orders', 'lab_reports', a.report_key)
       and o.deleted_at is null
    left join clinical.lab_tests as lt on lt.test_id = etl.lab_test_id(a.test_code) and lt.deleted_at is null
    left join ref.codes as sm on sm.system = 'map:lab_reports.status' and sm.code = etl.norm_key(r.status)
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
            when c.problem is not null and c.analyte_key = '*'
                then jsonb_build_object('column', 'results', 'rule', 'lab results neither a list nor an object')
            when c.problem is not null
                then jsonb_build_object('column', 'results',
                                        'rule', 'lab result entry without a readable name, or of an unexpected shape')
            when c.order_id is null
                then jsonb_build_object('column', 'lab_report_id', 'rule', 'lab order not loaded')
            when cardinality(c.warns) > 0
                then jsonb_build_object('warn', c.warns[1], 'warns', to_jsonb(c.warns))
        end as detail
    from checked as c
),

final as (
    -- the analyte's legacy rows: its report row and its lab_result_value rows, the one that
    -- carries the data LOADED, the others MERGED into it (etl.lab_analyte_rows)
    select
        c.order_item_id,
        c.order_id,
        c.test_id,
        c.status,
        c.created_at,
        r.*
    from explained as c
    cross join lateral etl.lab_analyte_rows(c.report_key, c.analyte_key, c.source, c.lrv_keys,
                                            c.reason, c.detail) as r

    union all

    -- lab_result_value rows whose report is not in the legacy snapshot (ORPHAN_FK)
    select
        null::uuid as order_item_id,
        null::uuid as order_id,
        null::uuid as test_id,
        null::text as status,
        null::timestamptz as created_at,
        o.*
    from etl.lab_orphan_values() as o
)

select * from final
