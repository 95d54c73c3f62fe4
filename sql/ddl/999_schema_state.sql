-- Which DDL this database was deployed from (not a blueprint table). apply_ddl (the schema phase)
-- writes the fingerprint of every file of sql/ddl/ as it applied them, last, in the same
-- transaction; the backfill's first step compares it with the code's own files and stops with
-- "run the schema phase" when the schema is missing or older than the code, instead of failing
-- later on a missing relation or column (hms_pipeline.sqlrun.schema_problem).
create table if not exists etl.schema_state (
    singleton boolean primary key default true check (singleton),
    fingerprint text not null,
    files integer not null,
    applied_at timestamptz not null default now()
);
comment on table etl.schema_state is
    'Fingerprint of the sql/ddl files this database was deployed from (one row; the schema phase writes it)';
