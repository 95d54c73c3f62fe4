-- Staging of legacy content the source's own constraints no longer guarantee (see
-- hms_pipeline/engine/staging.py). Idempotent like the rest of sql/ddl/.

-- Legacy rows that cannot be staged under a key of their own. Each is still accounted for: every
-- canonical table that consumes the legacy table quarantines it with the same reason.
--   NULL_KEY              the legacy key is NULL: _key = '~nullkey:<md5 of the row>[~n]'
--   DUPLICATE_LEGACY_KEY  another row has the same key (a table without its PK); the copy whose row
--                         hash sorts first is staged, the others: _key = '<key>~copy:<md5>[~n]',
--                         survivor_key = the staged copy's key.
-- No row values are kept here: the key is a surrogate or a hash.
create table if not exists etl.stage_rejects (
    legacy_table text not null,
    _key text not null,
    reason text not null check (reason in ('NULL_KEY', 'DUPLICATE_LEGACY_KEY')),
    survivor_key text,
    run_id text,
    primary key (legacy_table, _key)
);

-- Values of a legacy column whose type drifted from the contract (TEXT where the contract says
-- numeric, date, ...) that do not parse as the contract's type. The staged row carries NULL there;
-- the value is quarantined (UNPARSEABLE_VALUE) by the canonical tables whose transform reads the
-- column.
create table if not exists etl.stage_unparseable (
    legacy_table text not null,
    _key text not null,
    column_name text not null,
    contract_type text not null,
    run_id text,
    primary key (legacy_table, _key, column_name)
);

-- Row counts of the legacy tables at the last snapshot (the deletion guard compares with them).
create table if not exists etl.source_counts (
    legacy_table text primary key,
    legacy_rows bigint not null,
    run_id text,
    counted_at timestamptz not null default now()
);

-- text -> the text itself when it parses as type `typ` (any type name Postgres accepts, typmod
-- included), else NULL. Used only for drifted columns: one call per value.
create or replace function etl.try_cast(v text, typ text)
returns text
language plpgsql
stable
parallel safe
as $$
begin
    if v is null then
        return null;
    end if;
    execute format('select %L::%s', v, typ);
    return v;
exception when others then
    return null;
end;
$$;

-- Dependent re-derivation (hms_pipeline/engine/transform.py). A canonical table is re-derived whole
-- when one of its inputs changed: a staged change of one of its legacy sources since the sequence it
-- applied, or a write (rows or provenance) of one of its upstream canonical tables since the last
-- write it saw (upstream_seen_at). Its inputs are its spec's sources and deps, nothing else.
alter table etl.apply_state add column if not exists upstream_seen_at timestamptz;
alter table etl.run_stats add column if not exists mapped bigint not null default 0;
-- of the rows written, those inserted (the rest changed): README "Figures"
alter table etl.run_stats add column if not exists new_rows bigint not null default 0;

create or replace view etl.table_changes as
select canonical_table, max(recorded_at) as changed_at
from etl.run_stats
where written + soft_deleted + mapped > 0
group by canonical_table;
