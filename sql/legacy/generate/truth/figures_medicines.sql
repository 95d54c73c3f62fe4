-- blueprint: drugs that only the medicines table has add to the distinct drugs
update hms_truth.figures
set value = value + (select count(*) from medicines)
                  - (select count(*) from hms_truth.defects where kind = 'duplicate_drug' and legacy_table = 'medicines')
where name = 'distinct_medicines' and key = '*'
