-- core.facilities. Grain: one row per facility. Source: settings (HMS_FACILITY_NAME,
-- HMS_FACILITY_TIMEZONE); the legacy database has no facilities table. The legacy key is the
-- constant 'facility', so renaming the facility keeps its id.
select
    etl.canonical_id('core.facilities', 'settings', 'facility') as facility_id,
    %(facility_name)s::text as name,
    %(facility_tz)s::text as timezone,
    'settings'::text as _legacy_table,
    'facility'::text as _legacy_key,
    'LOADED'::text as _disposition,
    null::text as _reason,
    null::jsonb as _detail
