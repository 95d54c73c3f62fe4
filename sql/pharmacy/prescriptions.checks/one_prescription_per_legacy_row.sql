-- Per legacy prescription (prescriptions, staged): exactly one live prescription (ops.legacy_id_map)
-- or an open quarantine entry, never both and never two (etl.legacy_rows_accounted).
select * from etl.legacy_rows_accounted('pharmacy.prescriptions', 'prescriptions')
