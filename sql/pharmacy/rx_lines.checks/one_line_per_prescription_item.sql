-- Per legacy prescription item (prescription_items, staged): exactly one live rx_line
-- (ops.legacy_id_map) or an open quarantine entry, never both and never two
-- (etl.legacy_rows_accounted).
select * from etl.legacy_rows_accounted('pharmacy.rx_lines', 'prescription_items')
