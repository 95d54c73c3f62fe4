-- clinical.lab_results. Grain: one row per reported value: one per analyte of a legacy lab report
-- that carries a value (the ordered-test item of a report without analytes has no result).
-- The split is the shared rule etl.lab_report_analytes (sql/ddl/092_lab_helpers.sql), the same as
-- for lab_order_items, so a report with N analytes has N items and N results (loaded or
-- quarantined). Legacy key '<report id>#<analyte key>'; lab_result_value rows map to the result of
-- their analyte (LOADED/MERGED as for the items).
-- value: the legacy text, trimmed, kept as is (the column is text): a value that does not read as a
-- number ('NIL', '+++', '12..5') or is missing loads with a WARN (UNPARSEABLE_VALUE).
-- unit: the entry's unit (lab_result_value: unit_id -> ref_code). A missing unit loads NULL with a
-- WARN (MISSING_UNIT), except for dimensionless analytes: ref.codes 'map:lab_results.unit' maps an
-- analyte key to its expected unit, '1' (UCUM) = dimensionless (pH, specific gravity, INR); the
-- unit is never guessed. A row with several warnings lists them all in detail.warns (detail.warn
-- is the first). ref_range: the entry's range, else
-- normal_ranges. result_at: report_date. status: FINAL (completed report), CANCELLED, else
-- PRELIMINARY.
-- Quarantined: a result whose item is not loaded and a lab_result_value row whose report is
-- missing (ORPHAN_FK), and the unreadable entries the items
-- quarantine too (UNPARSEABLE_VALUE: results JSON neither array nor object, entry without a name,
-- entry of an unexpected shape: see etl.lab_report_analytes).
with touched as (
    select t.report_key
    from etl.lab_touched_reports() as t
),

analytes as (
    select a.*
    from etl.lab_report_analytes(array(select report_key from touched)) as a
    where a.source <> 'ordered' or a.problem is not null
),

reports as (
    select r._key, r.status, r.report_date
    from stg.lab_reports as r
    where not r._deleted and r._key in (select report_key from touched)
),

results as (
    select
        a.report_key,
        a.analyte_key,
        a.source,
        a.lrv_keys,
        a.problem,
        a.unit_problem,
        a.is_duplicate,
        etl.canonical_id('clinical.lab_results', 'lab_reports', a.report_key || '#' || a.analyte_key) as result_id,
        i.order_item_id,
        a.value,
        a.unit,
        eu.display as expected_unit,
        a.ref_range,
        r.report_date as result_at,
        case etl.norm_key(r.status) when 'completed' then 'FINAL' when 'cancelled' then 'CANCELLED'
             else 'PRELIMINARY' end as status,
        a.report_created_at as created_at
    from analytes as a
    join reports as r on r._key = a.report_key
    left join clinical.lab_order_items as i
        on i.order_item_id = etl.canonical_id('clinical.lab_order_items', 'lab_reports', a.report_key || '#' || a.analyte_key)
       and i.deleted_at is null
    left join ref.codes as eu on eu.system = 'map:lab_results.unit' and eu.code = a.analyte_key
),

checked as (
    select
        r.*,
        case
            when r.problem is not null then r.problem
            when r.order_item_id is null then 'ORPHAN_FK'
        end as reason,
        array_remove(array[
            case when not etl.lab_is_numeric(r.value) then 'UNPARSEABLE_VALUE' end,
            case when r.unit is null and r.expected_unit is distinct from '1' then 'MISSING_UNIT' end,
            r.unit_problem,
            case when r.is_duplicate then 'DUPLICATE' end
        ], null) as warns
    from results as r
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
            when c.order_item_id is null
                then jsonb_build_object('column', 'order_item_id', 'rule', 'lab order item not loaded')
            when cardinality(c.warns) > 0
                then jsonb_strip_nulls(jsonb_build_object('warn', c.warns[1], 'warns', to_jsonb(c.warns),
                                                          'expected_unit', nullif(c.expected_unit, '1')))
        end as detail
    from checked as c
),

final as (
    -- the analyte's legacy rows: its report row and its lab_result_value rows, the one that
    -- carries the data LOADED, the others MERGED into it (etl.lab_analyte_rows)
    select
        c.result_id,
        c.order_item_id,
        c.value,
        c.unit,
        c.ref_range,
        c.result_at,
        c.status,
        c.created_at,
        r.*
    from explained as c
    cross join lateral etl.lab_analyte_rows(c.report_key, c.analyte_key, c.source, c.lrv_keys,
                                            c.reason, c.detail) as r

    union all

    -- lab_result_value rows whose report is not in the legacy snapshot (ORPHAN_FK)
    select
        null::uuid as result_id,
        null::uuid as order_item_id,
        null::text as value,
        null::text as unit,
        null::text as ref_range,
        null::timestamptz as result_at,
        null::text as status,
        null::timestamptz as created_at,
        o.*
    from etl.lab_orphan_values() as o
)

select * from final
