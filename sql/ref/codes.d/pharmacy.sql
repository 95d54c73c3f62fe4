-- ref.codes contribution of pharmacy (runs after sql/ref/codes.sql, see hms_pipeline/engine/scripted.py):
-- the drug master's vocabularies, read by sql/pharmacy/items.sql. Edit these rows to map a new
-- legacy value (no code change); the next run applies them.
--   * map:medications.dosage_form: a lower-case dosage form word, as the legacy dosage_form column
--     holds it or as it appears in a drug name ('Tab', 'Syp') -> the one canonical form;
--   * map:medications.manufacturer: a manufacturer as matched (lower case, blanks collapsed) -> its
--     canonical spelling (case, known misspellings); display '' (empty) = the value is not a
--     manufacturer (fssai is a food-safety licence, not a maker), so the manufacturer is unknown.
--     An unlisted manufacturer is kept as written (blanks cleaned) and matched case-insensitively;
--   * map:medications.status: legacy status -> pharmacy.items.is_active ('true'/'false').
-- A reviewer's merge decisions are system 'review:pharmacy.items', in pharmacy_review.sql.
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:medications.dosage_form', 'tablet', 'TABLET'),
    ('map:medications.dosage_form', 'tablets', 'TABLET'),
    ('map:medications.dosage_form', 'tab', 'TABLET'),
    ('map:medications.dosage_form', 'tabs', 'TABLET'),
    ('map:medications.dosage_form', 'capsule', 'CAPSULE'),
    ('map:medications.dosage_form', 'capsules', 'CAPSULE'),
    ('map:medications.dosage_form', 'cap', 'CAPSULE'),
    ('map:medications.dosage_form', 'caps', 'CAPSULE'),
    ('map:medications.dosage_form', 'syrup', 'SYRUP'),
    ('map:medications.dosage_form', 'syp', 'SYRUP'),
    ('map:medications.dosage_form', 'syr', 'SYRUP'),
    ('map:medications.dosage_form', 'injection', 'INJECTION'),
    ('map:medications.dosage_form', 'inj', 'INJECTION'),
    ('map:medications.dosage_form', 'ointment', 'OINTMENT'),
    ('map:medications.dosage_form', 'oint', 'OINTMENT'),
    ('map:medications.dosage_form', 'drops', 'DROPS'),
    ('map:medications.dosage_form', 'drop', 'DROPS'),
    ('map:medications.dosage_form', 'spray', 'SPRAY'),
    ('map:medications.dosage_form', 'solution', 'SOLUTION'),
    ('map:medications.dosage_form', 'soln', 'SOLUTION'),
    ('map:medications.dosage_form', 'rotacaps', 'ROTACAPS'),
    ('map:medications.dosage_form', 'rotacap', 'ROTACAPS'),
    ('map:medications.dosage_form', 'bandage', 'BANDAGE'),
    ('map:medications.dosage_form', 'enema', 'ENEMA'),
    ('map:medications.dosage_form', 'inhaler', 'INHALER'),
    ('map:medications.dosage_form', 'cream', 'CREAM'),
    ('map:medications.dosage_form', 'gel', 'GEL'),
    ('map:medications.dosage_form', 'suspension', 'SUSPENSION'),
    ('map:medications.dosage_form', 'susp', 'SUSPENSION'),
    ('map:medications.manufacturer', 'cipla', 'Cipla'),
    ('map:medications.manufacturer', 'ciplal', 'Cipla'),
    ('map:medications.manufacturer', 'mankind', 'Mankind'),
    ('map:medications.manufacturer', 'mankind pharma', 'Mankind'),
    ('map:medications.manufacturer', 'ipca', 'Ipca'),
    ('map:medications.manufacturer', 'ipca laboratories', 'Ipca'),
    ('map:medications.manufacturer', 'dr.reddy''s', 'Dr.Reddy''s'),
    ('map:medications.manufacturer', 'dr. reddy''s', 'Dr.Reddy''s'),
    ('map:medications.manufacturer', 'dr reddys', 'Dr.Reddy''s'),
    ('map:medications.manufacturer', 'dr.redyy''s', 'Dr.Reddy''s'),
    ('map:medications.manufacturer', 'sun pharma', 'Sun Pharma'),
    ('map:medications.manufacturer', 'sun', 'Sun Pharma'),
    ('map:medications.manufacturer', 'lupin', 'Lupin'),
    ('map:medications.manufacturer', 'alkem', 'Alkem'),
    ('map:medications.manufacturer', 'alkem labs', 'Alkem'),
    ('map:medications.manufacturer', 'micro labs', 'Micro Labs'),
    ('map:medications.manufacturer', 'microlabs', 'Micro Labs'),
    ('map:medications.manufacturer', 'torrent', 'Torrent'),
    ('map:medications.manufacturer', 'torrent pharma', 'Torrent'),
    ('map:medications.manufacturer', 'zydus', 'Zydus'),
    ('map:medications.manufacturer', 'zydus cadila', 'Zydus'),
    ('map:medications.manufacturer', 'glenmark', 'Glenmark'),
    ('map:medications.manufacturer', 'glenmark pharma', 'Glenmark'),
    ('map:medications.manufacturer', 'abbott', 'Abbott'),
    ('map:medications.manufacturer', 'abbot', 'Abbott'),
    ('map:medications.manufacturer', 'gsk', 'GSK'),
    ('map:medications.manufacturer', 'glaxosmithkline', 'GSK'),
    ('map:medications.manufacturer', 'intas', 'Intas'),
    ('map:medications.manufacturer', 'macleods', 'Macleods'),
    ('map:medications.manufacturer', 'mcleods', 'Macleods'),
    ('map:medications.manufacturer', 'external pharmacy', 'External Pharmacy'),
    ('map:medications.manufacturer', 'fssai', ''),
    ('map:medications.status', 'active', 'true'),
    ('map:medications.status', 'inactive', 'false'),
    ('map:medications.status', 'discontinued', 'false')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
