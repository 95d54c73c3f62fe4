-- Ground truth of a generated legacy source (schema hms_truth, never the legacy schema).
create table hms_truth.run (
    key text primary key,
    value text not null
);
create table hms_truth.defects (
    kind text not null,
    legacy_table text not null,
    legacy_key text not null,
    expected text not null,
    reason text not null,
    detail jsonb not null default '{}'
);
create table hms_truth.figures (
    name text not null,
    key text not null,
    value numeric not null,
    primary key (name, key)
);
