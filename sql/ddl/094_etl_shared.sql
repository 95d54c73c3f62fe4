-- SQL shared by the transforms (sql/<schema>/<table>.sql) and by the consumption predicates of the
-- table specs (hms_pipeline/defs/<schema>/: `consumes=` strings), written once. Idempotent (create
-- or replace). After 080 (ops.legacy_id_map) and the canonical tables: the SQL-language bodies are
-- checked when created. The lab helpers that read the engine's temp table _todo are plpgsql
-- (resolved when called).
--
-- The SQL-language functions here are one SELECT or one expression and not STRICT, so the planner
-- inlines them (those built on array_to_string or concat_ws, which are STABLE, are STABLE too: an
-- IMMUTABLE function calling a STABLE one is not inlined; etl.has_items holds a sub-select and is
-- called per row). A provenance lookup is planned as a scan of its one ops.legacy_id_map partition
-- (the canonical_table filter prunes at plan time) joined by hash like the SQL it replaces. Call
-- the lookups from MATERIALIZED CTEs (`patient_ref as materialized (select * from
-- etl.patient_refs(...))`): measured at 100k patients, a map lookup the planner may push into a
-- join gets nested loops.

-- === Provenance lookups =========================================================================

-- The legacy rows mapped to one canonical table (one partition of ops.legacy_id_map), optionally
-- only those from one legacy table. run_id: the run that last mapped the row (`run_id = this run`:
-- the mapping changed now, so dependants are re-derived).
create or replace function etl.mapped_ids(p_canonical_table text, p_legacy_table text default null)
returns table (legacy_table text, legacy_key text, canonical_id uuid, disposition text, run_id text)
language sql
stable
parallel safe
as $$
    select m.legacy_table, m.legacy_key, m.canonical_id, m.disposition, m.run_id
    from ops.legacy_id_map as m
    where m.canonical_table = p_canonical_table
      and (p_legacy_table is null or m.legacy_table = p_legacy_table)
$$;

comment on function etl.mapped_ids(text, text) is
    'Provenance of one canonical table (its ops.legacy_id_map partition), optionally from one legacy table';

-- Legacy patients key -> the live core.patients row it resolves to (a duplicate registration
-- resolves to the surviving patient); changed: the mapping was written by run p_run_id.
create or replace function etl.patient_refs(p_run_id text)
returns table (legacy_key text, patient_id uuid, changed boolean)
language sql
stable
parallel safe
as $$
    select m.legacy_key, p.patient_id, m.run_id = p_run_id
    from etl.mapped_ids('core.patients', 'patients') as m
    join core.patients as p on p.patient_id = m.canonical_id and p.deleted_at is null
$$;

comment on function etl.patient_refs(text) is
    'Legacy patients key -> live core.patients row (changed: mapped by the given run)';

-- Legacy doctors key -> the live core.staff row of that doctor.
create or replace function etl.doctor_refs(p_run_id text)
returns table (legacy_key text, staff_id uuid, changed boolean)
language sql
stable
parallel safe
as $$
    select m.legacy_key, st.staff_id, m.run_id = p_run_id
    from etl.mapped_ids('core.staff', 'doctors') as m
    join core.staff as st on st.staff_id = m.canonical_id and st.deleted_at is null
$$;

comment on function etl.doctor_refs(text) is
    'Legacy doctors key -> live core.staff row (changed: mapped by the given run)';

-- Any legacy row mapped to a live clinical.encounters row: legacy encounters and visits, bed
-- allocations, and the '<key>#inferred' attachments of encounter-less records (disposition LOADED:
-- an encounter inferred for the record, MERGED: attached to an existing one).
create or replace function etl.encounter_refs(p_run_id text)
returns table (legacy_table text, legacy_key text, disposition text, encounter_id uuid, start_at timestamptz,
               changed boolean)
language sql
stable
parallel safe
as $$
    select m.legacy_table, m.legacy_key, m.disposition, e.encounter_id, e.start_at, m.run_id = p_run_id
    from etl.mapped_ids('clinical.encounters') as m
    join clinical.encounters as e on e.encounter_id = m.canonical_id and e.deleted_at is null
$$;

comment on function etl.encounter_refs(text) is
    'Legacy row (any source, #inferred attachments included) -> live clinical.encounters row';

-- === Matching keys and safe parsing of legacy values =============================================

-- A name or vocabulary value as compared (one normalizer for both sides of every lookup by name):
-- Unicode NFKC (composed; compatibility variants such as full-width letters folded, so an NFD
-- spelling equals its NFC one), lower case (ASCII always; other letters as the database's LC_CTYPE
-- folds them), every run of whitespace (Unicode spaces included) one blank, trimmed; NULL when
-- nothing is left. 'Cardiology' and ' CARDIOLOGY ' give one key, so do 'General  Surgery' and
-- 'general' || NBSP || 'surgery'. (normalize() needs a UTF8 database, as the product's is.)
create or replace function etl.norm_key(p_text text)
returns text
language sql
immutable
parallel safe
as $$
    select nullif(btrim(
        case when octet_length(p_text) = length(p_text)  -- ASCII only (the usual case): no Unicode work
             then regexp_replace(lower(p_text), '\s+', ' ', 'g')
             else regexp_replace(lower(normalize(p_text, NFKC)),
                                 '[\s\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+', ' ', 'g') end), '')
$$;

comment on function etl.norm_key(text) is
    'Lookup key of a name or vocabulary value: NFKC, lower case, whitespace collapsed and trimmed (NULL when blank)';

-- A users row is a patient's login when its role is 'patient' (compared by etl.norm_key: ' Patient'
-- is one too); every other login, a NULL or blank role included, is a staff login. One rule for
-- core.persons, core.staff, core.staff_roles and clinical.medical_history, so a login is never a
-- staff member in one table and nobody in another.
create or replace function etl.is_patient_login(p_role text)
returns boolean
language sql
immutable
parallel safe
as $$
    select coalesce(etl.norm_key(p_role) = 'patient', false)
$$;

-- A legacy text that is a plain decimal number ('98.6', '-3', '.5'; at most 40 characters), as
-- numeric; anything else ('abc', '1,200', '120/80 mmHg', '98-99', '1e5', 'NaN', blank, NULL) is
-- NULL. Never raises: the cast runs only on text the pattern accepts.
create or replace function etl.try_numeric(p_text text)
returns numeric
language sql
immutable
parallel safe
as $$
    select case when length(btrim(p_text)) <= 40 and btrim(p_text) ~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$'
                then btrim(p_text)::numeric end
$$;

comment on function etl.try_numeric(text) is
    'Plain decimal number in legacy text as numeric, else NULL (never raises)';

-- A wall-clock time of day 'H:MM' / 'HH:MM' (00:00 to 23:59, and 24:00), as time; anything else
-- NULL. Never raises ('25:00', '9:75', '9am' are NULL).
create or replace function etl.try_time(p_text text)
returns time
language sql
immutable
parallel safe
as $$
    select case when p_text ~ '^(([01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)$' then p_text::time end
$$;

comment on function etl.try_time(text) is
    'Time of day H:MM/HH:MM in legacy text as time, else NULL (never raises)';

-- === Contact data ===============================================================================

-- Indian mobile number for matching: the last 10 digits of the text ('' when there is none; a
-- number is usable when length() = 10).
create or replace function etl.norm_mobile(p_phone text)
returns text
language sql
immutable
parallel safe
as $$ select right(regexp_replace(coalesce(p_phone, ''), '\D', '', 'g'), 10) $$;

-- The same number in E.164 ('+91' and 10 digits), NULL when the text holds no 10-digit number.
create or replace function etl.e164_in(p_phone text)
returns text
language sql
immutable
parallel safe
as $$ select case when length(etl.norm_mobile(p_phone)) = 10 then '+91' || etl.norm_mobile(p_phone) end $$;

-- E-mail address as stored and matched: trimmed, lower case; NULL when blank (a blank address is no
-- address: it matches nothing and is not carried).
create or replace function etl.norm_email(p_email text)
returns text
language sql
immutable
parallel safe
as $$ select nullif(lower(btrim(p_email)), '') $$;

-- === Clinical text and vocabularies ==============================================================

-- A description followed by the legacy row's extra facts that have no canonical column, when there
-- are any: 'Penicillin (reaction: rash; severity: severe)'. NULL facts are left out.
create or replace function etl.with_details(p_text text, variadic p_details text[])
returns text
language sql
stable
parallel safe
as $$ select p_text || coalesce(' (' || nullif(concat_ws('; ', variadic p_details), '') || ')', '') $$;

-- The legacy ref_code ids of one domain with their canonical value, mapped by the ref.codes rows of
-- one mapping system (code = the legacy code by etl.norm_key: case, spaces, Unicode form);
-- display NULL: an unmapped code.
-- plpgsql: stg.ref_code exists only once staged.
create or replace function etl.legacy_codes(p_domain text, p_system text)
returns table (id uuid, display text)
language plpgsql
stable
as $$
begin
    return query
    select r.id, m.display
    from stg.ref_code as r
    left join ref.codes as m on m.system = p_system and m.code = etl.norm_key(r.code)
    where not r._deleted and r.domain = p_domain;
end;
$$;

comment on function etl.legacy_codes(text, text) is
    'Staged ref_code ids of a domain -> canonical value by a ref.codes mapping system (NULL: unmapped)';

-- === Facility-local time (Q28) ==================================================================
--
-- Legacy columns may hold any value their type allows, the extremes included (0001-01-01,
-- 9999-12-31, 'infinity', a date in year 5874897). Shifting a timestamp by a zone offset or an
-- interval, or turning a date into a timestamp, raises 'timestamp out of range' within hours of the
-- type's limits. These helpers never raise: they shift only instants inside etl.ts_shiftable (a
-- month's margin from the limits); an instant outside it (an infinity, or a finite value at the
-- very edge, which no wall clock can have written) is kept as it is, and a date no timestamp can
-- hold gives NULL.

-- Can an instant be shifted by a zone offset or an interval of up to a few days without leaving the
-- timestamptz range? (infinities: no)
create or replace function etl.ts_shiftable(ts timestamptz)
returns boolean
language sql
immutable
parallel safe
as $$ select ts between timestamptz '4713-01-01 00:00:00+00 BC' and timestamptz '294276-12-01 00:00:00+00' $$;

-- ts + an interval of at most a few days; ts itself where that could leave the range (see above).
create or replace function etl.ts_add(ts timestamptz, delta interval)
returns timestamptz
language sql
stable
parallel safe
as $$ select case when etl.ts_shiftable(ts) then ts + delta else ts end $$;

-- A legacy date as the timestamptz at its midnight in the session's zone (UTC in the pipeline);
-- NULL for a date a timestamp cannot safely hold (after 294276-12-01, before 4713-01-01 BC);
-- infinities stay infinite.
create or replace function etl.date_ts(d date)
returns timestamptz
language sql
stable
parallel safe
as $$
    select case when not isfinite(d) or d between date '4713-01-01 BC' and date '294276-12-01'
                then d::timestamptz end
$$;

-- A legacy timestamptz that holds a local wall-clock time stored as if UTC, read as a time in the
-- facility's zone; returns the true instant (an instant outside etl.ts_shiftable is kept as is).
create or replace function etl.local_wall_clock(ts timestamptz, tz text)
returns timestamptz
language sql
stable
parallel safe
as $$ select case when etl.ts_shiftable(ts) then (ts at time zone 'UTC') at time zone tz else ts end $$;

-- A local date and a local wall-clock time (patient_visits.visit_date + visit_time, a doctor's
-- working hours), read in the facility's zone; NULL when either is NULL, or when the date is beyond
-- what a timestamp can hold.
create or replace function etl.local_wall_clock(d date, t time, tz text)
returns timestamptz
language sql
stable
parallel safe
as $$
    select case when not isfinite(d) or d between date '4713-01-01 BC' and date '294276-12-01'
                then (d + t) at time zone tz end
$$;

-- A wall-clock timestamp stored as UTC whose time of day may be held apart (patients.admission_date
-- at 00:00 plus admission_time): the date with that time when the stored time is midnight, else the
-- stored value; read in the facility's zone.
create or replace function etl.local_wall_clock(ts timestamptz, t time, tz text)
returns timestamptz
language sql
stable
parallel safe
as $$
    select case when t is not null and (ts at time zone 'UTC')::time = time '00:00'
                then etl.local_wall_clock((ts at time zone 'UTC')::date, t, tz)
                else etl.local_wall_clock(ts, tz) end
$$;

-- The facility-local calendar date of an instant (the UTC date of an instant outside
-- etl.ts_shiftable).
create or replace function etl.local_date(ts timestamptz, tz text)
returns date
language sql
stable
parallel safe
as $$
    select case when etl.ts_shiftable(ts) then (ts at time zone tz)::date else (ts at time zone 'UTC')::date end
$$;

-- === Free-text lists (Q22) ======================================================================

-- A free-text item as compared: lower case, trimmed of blanks and dots.
create or replace function etl.norm_item(p_item text)
returns text
language sql
immutable
parallel safe
as $$ select lower(btrim(p_item, E' \t\r\n.')) $$;

-- Items that record nothing ('none', 'nil', 'NKDA', ...): the one list.
create or replace function etl.is_none_item(p_item text)
returns boolean
language sql
immutable
parallel safe
as $$
    select etl.norm_item(p_item) = any (array['', '-', 'none', 'nil', 'na', 'n/a', 'no', 'nkda', 'nka',
                                              'no known allergies', 'no known drug allergies', 'not known'])
$$;

-- A one-item column (patient_allergies.allergen, patient_symptoms.symptom_name, ...) says
-- something: not NULL and not a none-word.
create or replace function etl.is_item(p_item text)
returns boolean
language sql
immutable
parallel safe
as $$ select coalesce(not etl.is_none_item(p_item), false) $$;

-- The pieces of free-text lists that are items: the texts joined by commas, split on commas and
-- semicolons; n = 1-based position among all pieces; none-words and blanks dropped. The one split
-- rule of etl.text_items (what a table loads) and etl.has_items (what it is responsible for).
create or replace function etl.item_pieces(variadic p_texts text[])
returns table (n bigint, piece text)
language sql
stable
parallel safe
as $$
    select i.n, i.piece
    from regexp_split_to_table(array_to_string(p_texts, ','), '[,;]') with ordinality as i (piece, n)
    where not etl.is_none_item(i.piece)
$$;

-- The items of free-text lists: one row per distinct item (by norm) at its first position ord (so
-- '<key>#<column>#<ord>' stays the item's legacy key), item trimmed of blanks (dots kept). A text
-- repeating one word 90,000 times is one item.
create or replace function etl.text_items(variadic p_texts text[])
returns table (ord integer, item text, norm text)
language sql
stable
parallel safe
as $$
    select
        min(p.n)::integer,
        (array_agg(btrim(p.piece, E' \t\r\n') order by p.n))[1],
        etl.norm_item(p.piece)
    from etl.item_pieces(variadic p_texts) as p
    group by etl.norm_item(p.piece)
$$;

comment on function etl.text_items(text[]) is
    'Items of free-text lists (split on , and ;): each distinct item once, at its first position';

-- Do the free-text lists hold an item (the rows a table loads items from)?
create or replace function etl.has_items(variadic p_texts text[])
returns boolean
language sql
stable
parallel safe
as $$ select exists (select 1 from etl.item_pieces(variadic p_texts)) $$;

-- Does one of the TEXT vitals of a legacy patients row hold a value (not blank)? With one value:
-- is that value a measurement.
create or replace function etl.has_text_vitals(variadic p_values text[])
returns boolean
language sql
stable
parallel safe
as $$ select btrim(array_to_string(p_values, '')) <> '' $$;

-- === Labelled free text (Q32) ===================================================================

-- The parts of a text that folds several facts into one column with ' | ' (prescription_items.
-- instructions: 'Take regularly | Meal timing: after food | Frequency: 1-0-1'): n = 1-based
-- position among the parts, part = the part as written (blanks trimmed), label = its 'Label:'
-- prefix as matched (etl.norm_key: 'meal timing', 'frequency'; NULL when the part has none: only
-- letters and blanks before the first colon, so 'at 10:30' is no label), value = the part
-- after the label (the whole part when it has none). Blank parts are dropped. The one split rule of
-- the transforms that move a labelled part into a column of its own (sql/pharmacy/rx_lines.sql).
create or replace function etl.labelled_parts(p_text text)
returns table (n bigint, part text, label text, value text)
language sql
immutable
parallel safe
as $$
    select p.n,
           btrim(p.part, E' \t\r\n'),
           etl.norm_key(x.label),
           btrim(case when x.label is not null then substr(p.part, strpos(p.part, ':') + 1) else p.part end,
                 E' \t\r\n')
    from regexp_split_to_table(p_text, '\|') with ordinality as p (part, n)
    -- the text before the first colon, when it is letters and blanks (a prefix test, no
    -- backtracking regex over the whole part: measured 4x faster)
    cross join lateral (
        select case when strpos(p.part, ':') > 1 and left(p.part, strpos(p.part, ':') - 1) ~ '^\s*[A-Za-z][A-Za-z ]*$'
                    then left(p.part, strpos(p.part, ':') - 1) end as label
    ) as x
    where btrim(p.part, E' \t\r\n') <> ''
$$;

comment on function etl.labelled_parts(text) is
    'Parts of a '' | ''-joined free text: position, part, its ''Label:'' prefix (etl.norm_key) and the value after it';

-- === Lab reports ================================================================================

-- The lab reports this run's work touches (reads the engine's temp table _todo): changed reports
-- and the reports of changed lab_result_value rows; their analytes are re-derived whole.
create or replace function etl.lab_touched_reports()
returns table (report_key text)
language plpgsql
stable
as $$
begin
    return query
    select t.key
    from _todo as t
    where t.legacy_table = 'lab_reports'

    union

    select v.lab_report_id::text
    from stg.lab_result_value as v
    join _todo as t on t.legacy_table = 'lab_result_value' and t.key = v._key;
end;
$$;

comment on function etl.lab_touched_reports() is
    'Lab reports touched by this run''s _todo (changed reports, reports of changed lab_result_value rows)';

-- Changed lab_result_value rows whose report is not in the legacy snapshot (reads _todo), as the
-- provenance columns of a transform's output: quarantined (ORPHAN_FK) by every table built from
-- analytes.
create or replace function etl.lab_orphan_values()
returns table (_legacy_table text, _legacy_key text, _disposition text, _reason text, _detail jsonb)
language plpgsql
stable
as $$
begin
    return query
    select
        'lab_result_value'::text,
        v._key,
        'LOADED'::text,
        'ORPHAN_FK'::text,
        jsonb_build_object('column', 'lab_report_id', 'rule', 'lab report not found')
    from stg.lab_result_value as v
    join _todo as t on t.legacy_table = 'lab_result_value' and t.key = v._key
    where not v._deleted
      and not exists (select 1 from stg.lab_reports as r
                      where r._key = v.lab_report_id::text and not r._deleted);
end;
$$;

comment on function etl.lab_orphan_values() is
    'Changed lab_result_value rows (this run''s _todo) whose lab report is missing';

-- The legacy rows of one analyte (a row of etl.lab_report_analytes), as the provenance columns of
-- a transform's output: its report row ('<report id>#<analyte key>') and its lab_result_value rows.
-- The row that carries the analyte's data is LOADED: the report's for a results-JSON analyte (or
-- the ordered test), else the first lab_result_value row (so deleting that row soft-deletes the
-- analyte); the others are MERGED into it. Every row carries the quarantine reason; the detail
-- (warnings) rides on the LOADED row only (counted once), or on every row of a quarantined analyte.
create or replace function etl.lab_analyte_rows(p_report_key text, p_analyte_key text, p_source text,
                                                p_lrv_keys text[], p_reason text, p_detail jsonb)
returns table (_legacy_table text, _legacy_key text, _disposition text, _reason text, _detail jsonb)
language sql
immutable
parallel safe
as $$
    select
        r.legacy_table,
        r.legacy_key,
        case when r.carries_data then 'LOADED' else 'MERGED' end,
        p_reason,
        case when p_reason is not null or r.carries_data then p_detail end
    from (
        select 'lab_reports'::text, p_report_key || '#' || p_analyte_key, p_source <> 'lab_result_value'
        union all
        select 'lab_result_value'::text, v.lrv_key, p_source = 'lab_result_value' and v.n = 1
        from unnest(p_lrv_keys) with ordinality as v (lrv_key, n)
    ) as r (legacy_table, legacy_key, carries_data)
$$;

comment on function etl.lab_analyte_rows(text, text, text, text[], text, jsonb) is
    'Legacy rows of one lab analyte (report row, lab_result_value rows): which is LOADED, reason and detail';

-- === Conservation: every legacy row accounted for =================================================

-- One row per staged live legacy row of p_legacy: subject '<legacy table>:<key>', expected 1, actual
-- = the live canonical rows of p_canonical the id map gives it (loaded or merged) + 1 when it has
-- an open quarantine entry for p_canonical. The body of the "one row per legacy row" conservation
-- checks (sql/<schema>/<table>.checks/*.sql, hms_pipeline.engine.conservation).
create or replace function etl.legacy_rows_accounted(p_canonical text, p_legacy text)
returns table (subject text, expected numeric, actual numeric)
language plpgsql
stable
as $$
declare
    v_pk text;
begin
    select a.attname into v_pk
    from pg_index as i
    join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    where i.indrelid = p_canonical::regclass and i.indisprimary;
    return query execute format(
        $q$with mapped as (
               select m.legacy_key, count(*) as n
               from ops.legacy_id_map as m
               join %s as t on t.%I = m.canonical_id and t.deleted_at is null
               where m.canonical_table = $1 and m.legacy_table = $2
               group by 1
           ),
           held as (
               select distinct q.legacy_key
               from ops.quarantine as q
               where q.target_table = $1 and q.legacy_table = $2 and q.resolved_at is null
           )
           select $2 || ':' || s._key, 1::numeric,
                  (coalesce(m.n, 0) + case when h.legacy_key is null then 0 else 1 end)::numeric
           from %s as s
           left join mapped as m on m.legacy_key = s._key
           left join held as h on h.legacy_key = s._key
           where not s._deleted$q$,
        p_canonical::regclass, v_pk, format('stg.%I', p_legacy)::regclass)
    using p_canonical, p_legacy;
end
$$;
