-- ref.codes contribution of pharmacy's prescriptions (runs after sql/ref/codes.sql, see
-- hms_pipeline/engine/scripted.py): the status vocabularies read by sql/pharmacy/prescriptions.sql
-- and sql/pharmacy/rx_lines.sql. code = the legacy status as matched (etl.norm_key: lower case,
-- blanks collapsed), display = the canonical status (the CHECK lists of sql/ddl/050_pharmacy.sql).
-- A legacy value not listed here loads as NULL with a WARN (UNKNOWN_STATUS); edit these rows to map
-- it (no code change), the next run applies them.
--   * map:prescriptions.status: the code's active/completed/cancelled, DS's dispensed, and the PDS
--     variant pending/partial/complete (complete = fully dispensed);
--   * map:prescription_items.status: pending/dispensed/cancelled, DCS's partial.
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:prescriptions.status', 'active', 'ACTIVE'),
    ('map:prescriptions.status', 'pending', 'ACTIVE'),
    ('map:prescriptions.status', 'partial', 'PARTIAL'),
    ('map:prescriptions.status', 'dispensed', 'DISPENSED'),
    ('map:prescriptions.status', 'complete', 'DISPENSED'),
    ('map:prescriptions.status', 'completed', 'COMPLETED'),
    ('map:prescriptions.status', 'cancelled', 'CANCELLED'),
    ('map:prescription_items.status', 'pending', 'PENDING'),
    ('map:prescription_items.status', 'partial', 'PARTIAL'),
    ('map:prescription_items.status', 'dispensed', 'DISPENSED'),
    ('map:prescription_items.status', 'cancelled', 'CANCELLED')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
