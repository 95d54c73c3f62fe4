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
-- quarantine too (UNPARSEABLE_VALUE: results JSON neither array nor object, entry without a name).
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
    where a.source <> 'ordered' or a.problem is not null
),

reports as (
    select r._key, r.status, r.report_date, coalesce(r.created_at, r.sample_collected_date) as created_at
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
        case lower(trim(r.status)) when 'completed' then 'FINAL' when 'cancelled' then 'CANCELLED'
             else 'PRELIMINARY' end as status,
        r.created_at
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
            when c.problem is not null
                then jsonb_build_object('column', 'results', 'rule', 'lab results not readable as analytes')
            when c.order_item_id is null
                then jsonb_build_object('column', 'order_item_id', 'rule', 'lab order item not loaded')
            when cardinality(c.warns) > 0
                then jsonb_strip_nulls(jsonb_build_object('warn', c.warns[1], 'warns', to_jsonb(c.warns),
                                                          'expected_unit', nullif(c.expected_unit, '1')))
        end as detail
    from checked as c
),

final as (
    -- the result itself, from the report
    select
        c.result_id,
        c.order_item_id,
        c.value,
        c.unit,
        c.ref_range,
        c.result_at,
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
        c.result_id,
        c.order_item_id,
        c.value,
        c.unit,
        c.ref_range,
        c.result_at,
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
        null::text,
        null::text,
        null::text,
        null::timestamptz,
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
