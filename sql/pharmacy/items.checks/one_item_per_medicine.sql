-- Per legacy drug master row (medications, medicines where it is a table; live, staged): exactly
-- one live item, loaded or merged (ops.legacy_id_map), or an open quarantine entry, never both and
-- never two items (etl.legacy_rows_accounted).
select * from etl.legacy_rows_accounted('pharmacy.items', 'medications')
union all
select * from etl.legacy_rows_accounted('pharmacy.items', 'medicines')
