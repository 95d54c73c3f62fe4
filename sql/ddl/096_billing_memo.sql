-- One evaluation of the legacy billing views per change of what they read (issue #15).
--
-- etl.billing_lines(), etl.billing_headers() and etl.billing_payment_rows() read only the staged
-- legacy rows, ref.codes and the loaded patients, yet every billing transform, money check and the
-- report's finance section calls them again: about 8 s each at 100k patients, eight or more calls
-- a run. Their bodies are the *_compute functions of 096_billing_helpers.sql (the rules stay in
-- one place); the public names below keep the last result in an unlogged table with a stamp of
-- what it read. A call whose stamp is unchanged reads the table; any other call recomputes it,
-- under an advisory lock and inside the caller's transaction (a failed step rolls the memo back
-- with its own writes).
--
-- The stamp: the highest stg change sequence of the staged tables the bodies read (every insert,
-- update and soft delete of a staged row takes a new value of etl.stage_seq; so does a full
-- re-stage), the data's as-of (etl.billing_as_of: capped at the latest snapshot, so it can move
-- while no row changes, as a future-dated row falls into the past), the content of ref.codes (small), and the row count and latest change of core.patients and the
-- patients' provenance.
--
-- The memo tables are caches: dropped and re-created whenever the schema phase runs, so they
-- always have the bodies' current shape.

drop function if exists etl.billing_lines();
drop function if exists etl.billing_headers();
drop function if exists etl.billing_payment_rows();
drop function if exists etl.billing_memo_refresh(text);
drop table if exists etl.memo_billing_lines, etl.memo_billing_headers, etl.memo_billing_payment_rows;

create unlogged table etl.memo_billing_lines as select * from etl.billing_lines_compute() with no data;
create unlogged table etl.memo_billing_headers as select * from etl.billing_headers_compute() with no data;
create unlogged table etl.memo_billing_payment_rows as select * from etl.billing_payment_rows_compute() with no data;

create table if not exists etl.memo_state (
    name text primary key,
    stamp text not null,
    computed_at timestamptz not null default now()
);
truncate etl.memo_state;

comment on table etl.memo_state is
    'The stamp of what each memo table (etl.memo_*) was computed from; see sql/ddl/096_billing_memo.sql';

-- What the billing bodies read, as one text: equal stamps, equal results.
create or replace function etl.billing_memo_stamp()
returns text
language plpgsql
stable
as $$
declare
    v_seq bigint := 0;
    v_max bigint;
    t text;
    v_stamp text;
begin
    foreach t in array array[
        'appointment', 'bed_allocations', 'billing', 'billing_item', 'billing_payments',
        'billing_summary', 'encounter', 'patient_admissions', 'patients', 'payment_history',
        'payment_ledger', 'pharmacy_bill_items', 'pharmacy_billing', 'pharmacy_billing_items',
        'pharmacy_bills', 'ref_code'] loop
        if to_regclass(format('stg.%I', t)) is not null then
            -- an index on _change_seq answers max() without a scan
            execute format('select max(_change_seq) from stg.%I', t) into v_max;
            v_seq := greatest(v_seq, coalesce(v_max, 0));
        end if;
    end loop;
    select concat_ws('|', v_seq,
               etl.billing_as_of(),
               (select md5(coalesce(string_agg(concat_ws(chr(31), c.system, c.code, c.display), chr(30)
                                                order by c.system, c.code), '')) from ref.codes as c),
               (select count(*) || '@' || coalesce(max(p.updated_at)::text, '') from core.patients as p),
               (select count(*) || '@' || coalesce(max(m.mapped_at)::text, '')
                from ops.legacy_id_map as m where m.canonical_table = 'core.patients'))
    into v_stamp;
    return v_stamp;
end
$$;

-- The stamp to store when memo p_name ('billing_lines', 'billing_headers',
-- 'billing_payment_rows') must be recomputed, NULL when it is current. Takes the memo's advisory
-- lock (held to the end of the transaction) before it answers "recompute".
create or replace function etl.billing_memo_stale(p_name text)
returns text
language plpgsql
volatile
as $$
declare
    v_stamp text := etl.billing_memo_stamp();
begin
    if p_name not in ('billing_lines', 'billing_headers', 'billing_payment_rows') then
        raise exception 'etl.billing_memo_stale: unknown memo %', p_name;
    end if;
    if exists (select 1 from etl.memo_state as s where s.name = p_name and s.stamp = v_stamp) then
        return null;
    end if;
    perform pg_advisory_xact_lock(hashtext('etl.memo_' || p_name));
    if exists (select 1 from etl.memo_state as s where s.name = p_name and s.stamp = v_stamp) then
        return null;  -- another session computed it while this one waited
    end if;
    return v_stamp;
end
$$;

create or replace function etl.billing_memo_done(p_name text, p_stamp text)
returns void
language plpgsql
volatile
as $$
begin
    execute format('analyze etl.%I', 'memo_' || p_name);
    insert into etl.memo_state as s (name, stamp) values (p_name, p_stamp)
    on conflict (name) do update set stamp = excluded.stamp, computed_at = now();
end
$$;

-- The public functions, one per memo. Each calls its *_compute body literally (the created body
-- names it): the engine finds a transform's legacy inputs by following the etl.* calls in function
-- bodies (engine/transform.py transform_inputs).
do $do$
declare
    f text;
begin
    foreach f in array array['billing_lines', 'billing_headers', 'billing_payment_rows'] loop
        execute format($f$
            create function etl.%1$I()
            returns setof etl.%2$I
            language plpgsql
            volatile
            as $body$
            declare
                v_stamp text := etl.billing_memo_stale(%1$L);
            begin
                if v_stamp is not null then
                    delete from etl.%2$I;
                    insert into etl.%2$I select * from etl.%3$I();
                    perform etl.billing_memo_done(%1$L, v_stamp);
                end if;
                return query select * from etl.%2$I;
            end
            $body$$f$, f, 'memo_' || f, f || '_compute');
    end loop;
end
$do$;

comment on function etl.billing_lines() is
    'etl.billing_lines_compute(), kept until what it reads changes (etl.billing_memo_stamp)';
comment on function etl.billing_headers() is
    'etl.billing_headers_compute(), kept until what it reads changes (etl.billing_memo_stamp)';
comment on function etl.billing_payment_rows() is
    'etl.billing_payment_rows_compute(), kept until what it reads changes (etl.billing_memo_stamp)';
