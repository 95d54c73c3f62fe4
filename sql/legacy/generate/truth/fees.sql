insert into hms_truth.defects (kind, legacy_table, legacy_key, expected, reason, detail)
select 'fee_seed_mismatch', 'fee_categories', '*', 'LOAD_WITH_WARN', 'SEED_MISMATCH',
       jsonb_build_object('rows', (select count(*) from fee_categories), 'ddl_seed_rows', 10)
union all
select 'fee_seed_mismatch', 'fee_rates', '*', 'LOAD_WITH_WARN', 'SEED_MISMATCH',
       jsonb_build_object('rows', (select count(*) from fee_rates), 'ddl_seed_rows', 16)
