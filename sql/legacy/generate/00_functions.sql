-- Helpers for the synthetic legacy generator, created in pg_temp (they vanish with the session and
-- never touch the legacy or truth schemas). Every value the generator writes is a pure function of
-- (seed, tag, row number): no now(), random() or gen_random_uuid(). The helpers are single-expression
-- SQL functions so the planner inlines them into the set-based INSERT ... SELECT statements.
-- Declared STABLE (not IMMUTABLE) because some bodies use stable built-ins; inlining only requires
-- the body to be no more volatile than the declaration.

-- zero-padded number that never truncates (lpad would cut 12345 to '1234'); n is used once so the
-- function inlines even when n is an expression (see reg_at)
create or replace function pg_temp.pad(n bigint, w int) returns text
language sql stable parallel safe as
$$ select regexp_replace(repeat('0', w) || n::text, '^0*([0-9]{' || w || ',})$', '\1') $$;

-- non-negative 63-bit hash of (seed, tag, n)
create or replace function pg_temp.h(s bigint, t text, n bigint) returns bigint
language sql stable parallel safe as
$$ select hashtextextended(t || ':' || n::text, s) & 9223372036854775807 $$;

-- uniform double in [0, 1)
create or replace function pg_temp.r(s bigint, t text, n bigint) returns float8
language sql stable parallel safe as
$$ select (hashtextextended(t || ':' || n::text, s) & 9007199254740991)::float8 / 9007199254740992.0 $$;

-- uniform integer in 1..k
create or replace function pg_temp.ri(s bigint, t text, n bigint, k bigint) returns bigint
language sql stable parallel safe as
$$ select 1 + (hashtextextended(t || ':' || n::text, s) & 9223372036854775807) % greatest(k, 1) $$;

-- deterministic uuid of (seed, table, n)
create or replace function pg_temp.uid(s bigint, t text, n bigint) returns uuid
language sql stable parallel safe as
$$ select md5(s::text || ':' || t || ':' || n::text)::uuid $$;

-- pick one element of a text array
create or replace function pg_temp.pick(a text[], s bigint, t text, n bigint) returns text
language sql stable parallel safe as
$$ select a[1 + ((hashtextextended(t || ':' || n::text, s) & 9223372036854775807) % cardinality(a))::int] $$;

-- the row of 2..k (1 if k < 2) pinned to carry defect kind t whatever the rate (so small scales show
-- every kind); kinds get consecutive rows from a seed-dependent base, so two kinds never share a
-- pinned row while the table has more rows than kinds. pg_temp.kind_ord is created by the generator.
create or replace function pg_temp.kind_ord(t text) returns int
language sql stable parallel safe as
$$ select 0 $$;

create or replace function pg_temp.pin(s bigint, t text, k bigint) returns bigint
language sql stable parallel safe as
$$ select case when k < 2 then 1
               else 2 + ((hashtextextended('pin', s) & 9223372036854775807) + pg_temp.kind_ord(t)) % (k - 1) end $$;

-- does row n of 1..k carry defect kind t at this rate? (rate 0 disables the kind entirely)
create or replace function pg_temp.hit(s bigint, t text, n bigint, rate float8, k bigint) returns boolean
language sql stable parallel safe as
$$ select rate > 0 and (n = pg_temp.pin(s, t, k)
       or (hashtextextended(t || ':' || n::text, s) & 9007199254740991)::float8 / 9007199254740992.0 < rate) $$;

-- a UTC instant: `days` (fractional) after midnight UTC of date d
create or replace function pg_temp.at(d date, days float8) returns timestamptz
language sql stable parallel safe as
$$ select (d::timestamp + days * interval '1 day') at time zone 'UTC' $$;

-- IST wall clock of a true instant, stored as if it were UTC (contract defect 25)
create or replace function pg_temp.ist_as_utc(t timestamptz) returns timestamptz
language sql stable parallel safe as
$$ select (t at time zone 'Asia/Kolkata') at time zone 'UTC' $$;

-- patients are registered in row order over `span` days ending the day before as_of
create or replace function pg_temp.reg_day(k bigint, np bigint, span int) returns int
language sql stable parallel safe as
$$ select (((2 * k - 1) * span) / (2 * greatest(np, 1)))::int $$;

-- k is used once so that the planner can inline this wherever k is an expression (an inlined SQL
-- function whose parameter appears twice is not inlined when the argument is costly, and a real
-- function call per row costs microseconds); the time of day is the fractional part
create or replace function pg_temp.reg_at(s bigint, k bigint, np bigint, as_of date, span int) returns timestamptz
language sql stable parallel safe as
$$ select pg_temp.at(as_of - span, (2 * k - 1) * span / (2.0 * greatest(np, 1))) $$;

-- UHID AH{YY}{MM}-{NNNN}: NNNN is the sequence within the registration month
create or replace function pg_temp.uhid_of(d date, k bigint, np bigint, as_of date, span int) returns text
language sql stable parallel safe as
$$ select 'AH' || to_char(d, 'YYMM') || '-'
       || pg_temp.pad(k - ((2 * greatest(date_trunc('month', d::timestamp)::date - (as_of - span), 0) * np + span
                           + 2 * span - 1) / (2 * span)) + 1, 4) $$;

create or replace function pg_temp.uhid(k bigint, np bigint, as_of date, span int) returns text
language sql stable parallel safe as
$$ select pg_temp.uhid_of(as_of - span + pg_temp.reg_day(k, np, span), k, np, as_of, span) $$;

-- the patient of encounter e
create or replace function pg_temp.enc_patient(s bigint, e bigint, np bigint) returns bigint
language sql stable parallel safe as
$$ select pg_temp.ri(s, 'enc.patient', e, np) $$;

-- true (UTC) start of encounter e: between its patient's registration and as_of
create or replace function pg_temp.enc_start(s bigint, e bigint, np bigint, as_of date, span int) returns timestamptz
language sql stable parallel safe as
$$ select pg_temp.reg_at(s, pg_temp.enc_patient(s, e, np), np, as_of, span)
          + (0.02 + 0.96 * pg_temp.r(s, 'enc.start', e))
          * ((as_of::timestamp at time zone 'UTC') - pg_temp.reg_at(s, pg_temp.enc_patient(s, e, np), np, as_of, span)) $$;

-- the person behind patient k: a duplicate patient row repeats the person of an earlier patient
-- that is not itself a duplicate (so every duplicate has a loaded original)
create or replace function pg_temp.pat_person(s bigint, k bigint, rate float8, np bigint) returns bigint
language sql stable parallel safe as
$$ select case when k > 1 and pg_temp.hit(s, 'duplicate_patient', k, rate, np)
                    and not pg_temp.hit(s, 'duplicate_patient', pg_temp.ri(s, 'dup.src', k, k - 1), rate, np)
               then pg_temp.ri(s, 'dup.src', k, k - 1) else k end $$;

-- the canonical drug of medications row m (seed rows 1..nseed; the import's first ndup rows repeat
-- seed drugs 1..ndup, later import rows are new drugs)
create or replace function pg_temp.med_drug(m bigint, nseed bigint, ndup bigint) returns bigint
language sql stable parallel safe as
$$ select case when m <= nseed then m when m - nseed <= ndup then m - nseed else m - ndup end $$;

-- a person's sex, first and last name (patients by person index; staff-side people by their own tags)
create or replace function pg_temp.sex(s bigint, t text, q bigint) returns text
language sql stable parallel safe as
$$ select case when pg_temp.r(s, t || '.sex', q) < 0.49 then 'male'
               when pg_temp.r(s, t || '.sex', q) < 0.985 then 'female' else 'other' end $$;

create or replace function pg_temp.first_name(s bigint, t text, q bigint, fm text[], ff text[]) returns text
language sql stable parallel safe as
$$ select case when pg_temp.sex(s, t, q) = 'female' then pg_temp.pick(ff, s, t || '.first', q)
               else pg_temp.pick(fm, s, t || '.first', q) end $$;

create or replace function pg_temp.last_name(s bigint, t text, q bigint, ln text[]) returns text
language sql stable parallel safe as
$$ select pg_temp.pick(ln, s, t || '.last', q) $$;

-- Indian mobile number of a person: 10 digits starting 6-9
create or replace function pg_temp.mobile(s bigint, t text, q bigint) returns text
language sql stable parallel safe as
$$ select (6 + pg_temp.h(s, t || '.ph1', q) % 4)::text || lpad((pg_temp.h(s, t || '.ph2', q) % 1000000000)::text, 9, '0') $$;

-- a doctor's display name as users.name holds it (doctor d = users row d)
create or replace function pg_temp.doctor_name(s bigint, d bigint, fm text[], ff text[], ln text[]) returns text
language sql stable parallel safe as
$$ select 'Dr. ' || pg_temp.first_name(s, 'doc', d, fm, ff) || ' ' || pg_temp.last_name(s, 'doc', d, ln) $$;

-- a free-text spelling of doctor d's name (variant v: 0 exact, 1 no dot, 2 lower case without
-- title, 3 initial + surname, 4 misspelt surname)
create or replace function pg_temp.name_variant(f text, l text, v int) returns text
language sql stable parallel safe as
$$ select case v
     when 0 then 'Dr. ' || f || ' ' || l
     when 1 then 'Dr ' || f || ' ' || l
     when 2 then lower(f || ' ' || l)
     when 3 then 'Dr. ' || left(f, 1) || '. ' || l
     else 'Dr. ' || f || ' ' || left(l, 2) || substr(l, 2) end $$;

create or replace function pg_temp.doctor_name_variant(s bigint, d bigint, v int, fm text[], ff text[], ln text[]) returns text
language sql stable parallel safe as
$$ select pg_temp.name_variant(pg_temp.first_name(s, 'doc', d, fm, ff), pg_temp.last_name(s, 'doc', d, ln), v) $$;

-- billing: lines per bill, and each line's quantity and unit amount (shared by billing.sql and
-- billing_item.sql so that header and lines agree except where a defect says otherwise)
create or replace function pg_temp.bill_nlines(s bigint, b bigint, fan float8) returns int
language sql stable parallel safe as
$$ select least(4, 1 + floor(pg_temp.r(s, 'bill.nlines', b) * 2 * greatest(fan - 1, 0) + pg_temp.r(s, 'bill.nlines2', b))::int) $$;

create or replace function pg_temp.bill_line_qty(s bigint, b bigint, j int) returns int
language sql stable parallel safe as
$$ select case when pg_temp.r(s, 'bi.q', b * 100 + j) < 0.6 then 1 else 1 + (pg_temp.h(s, 'bi.qn', b * 100 + j) % 10)::int end $$;

create or replace function pg_temp.bill_line_unit(s bigint, b bigint, j int) returns numeric
language sql stable parallel safe as
$$ select round((20 + pg_temp.r(s, 'bi.u', b * 100 + j) ^ 3 * 1980)::numeric, 2) $$;

-- the sum of the (at most 4) lines of bill b, unrolled (cheaper than a subquery per bill)
create or replace function pg_temp.bill_lines_sum(s bigint, b bigint, nl int) returns numeric
language sql stable parallel safe as
$$ select pg_temp.bill_line_qty(s, b, 1) * pg_temp.bill_line_unit(s, b, 1)
          + case when nl >= 2 then pg_temp.bill_line_qty(s, b, 2) * pg_temp.bill_line_unit(s, b, 2) else 0 end
          + case when nl >= 3 then pg_temp.bill_line_qty(s, b, 3) * pg_temp.bill_line_unit(s, b, 3) else 0 end
          + case when nl >= 4 then pg_temp.bill_line_qty(s, b, 4) * pg_temp.bill_line_unit(s, b, 4) else 0 end $$;

-- payments per bill: 0..2 with mean `fan` (85% of paying bills pay once, 15% twice)
create or replace function pg_temp.bill_npay(s bigint, b bigint, fan float8) returns int
language sql stable parallel safe as
$$ select case when pg_temp.r(s, 'bill.npay', b) < least(fan / 1.15, 1.0) * 0.85 then 1
               when pg_temp.r(s, 'bill.npay', b) < least(fan / 1.15, 1.0) then 2 else 0 end $$;

-- drug master: canonical drug c = (stem, strength, form); distinct for c <= stems x strengths x forms
create or replace function pg_temp.drug_stem(c bigint, stems text[]) returns text
language sql stable parallel safe as
$$ select stems[1 + ((c - 1) % cardinality(stems))::int] $$;

create or replace function pg_temp.drug_strength(c bigint, stems text[], strengths text[]) returns text
language sql stable parallel safe as
$$ select strengths[1 + (((c - 1) / cardinality(stems)) % cardinality(strengths))::int] $$;

create or replace function pg_temp.drug_form_ix(c bigint, stems text[], strengths text[], forms text[]) returns int
language sql stable parallel safe as
$$ select 1 + (((c - 1) / (cardinality(stems) * cardinality(strengths))) % cardinality(forms))::int $$;

-- units per pack of drug c (tablets/capsules come in strips)
create or replace function pg_temp.pack_size(c bigint, stems text[], strengths text[], forms text[]) returns int
language sql stable parallel safe as
$$ select case pg_temp.drug_form_ix(c, stems, strengths, forms) when 1 then 10 when 2 then 15 else 1 end $$;

-- medication of batch i (every medication gets batch i = m first; orphans are decided in the batch)
create or replace function pg_temp.batch_med(i bigint, nm bigint) returns bigint
language sql stable parallel safe as
$$ select 1 + (i - 1) % greatest(nm, 1) $$;

-- batch number of batch i: batch_no_of(s, batch_j(...)); a reused number repeats batch i-1's
-- (whose medication differs). Callers compute batch_j into a column first (see reg_at on inlining).
create or replace function pg_temp.batch_j(s bigint, i bigint, rate float8, nb bigint) returns bigint
language sql stable parallel safe as
$$ select case when i > 1 and pg_temp.hit(s, 'batch_number_reused', i, rate, nb) then i - 1 else i end $$;

create or replace function pg_temp.batch_no_of(s bigint, j bigint) returns text
language sql stable parallel safe as
$$ select 'B' || upper(substr(md5(s::text || ':bn:' || j::text), 1, 3)) || pg_temp.pad(j, 5) $$;

-- received date of batch i (within the last 400 days)
create or replace function pg_temp.batch_received(s bigint, i bigint, as_of date) returns date
language sql stable parallel safe as
$$ select as_of - (1 + pg_temp.h(s, 'mb.recv', i) % 400)::int $$;

-- a TEXT vital on patients (contract defect 19): the normal reading, or an unparseable string, or an
-- out-of-range number; pinned rows carry the defect whatever the rate
create or replace function pg_temp.vtext(s bigint, m text, k bigint, normal text, bad text, r_unp float8,
                                         r_oor float8, pin_unp bigint, pin_oor bigint, unp text[]) returns text
language sql stable parallel safe as
$$ select case when k = pin_unp or (r_unp > 0 and pg_temp.r(s, 'vu.' || m, k) < r_unp) then pg_temp.pick(unp, s, 'vuv.' || m, k)
               when k = pin_oor or (r_oor > 0 and pg_temp.r(s, 'vo.' || m, k) < r_oor) then bad
               else normal end $$;

-- money as TEXT on patients (contract defect 10): '500', '500.00' or, as a defect, 'Rs. 500' / '500/-'
create or replace function pg_temp.mtext(s bigint, m text, k bigint, amount int, rate float8, pin bigint) returns text
language sql stable parallel safe as
$$ select case when k = pin or (rate > 0 and pg_temp.r(s, 'mt.' || m, k) < rate)
                    then case pg_temp.h(s, 'mtv.' || m, k) % 3 when 0 then 'Rs. ' || amount when 1 then amount || '/-' else 'Rs.' || amount || ' only' end
               when pg_temp.r(s, 'mtf.' || m, k) < 0.5 then amount::text
               else amount || '.00' end $$;

-- lab: analyte i of report n from its panel definition 'name:unit:lo:hi'; a hit value is an
-- unparseable string, otherwise a number within (or a little outside) the normal range
create or replace function pg_temp.lab_value(s bigint, n bigint, i bigint, def text, rate float8, pin bigint) returns text
language sql stable parallel safe as
$$ select case when (n = pin and i = 1) or (rate > 0 and pg_temp.r(s, 'lab_unparseable_value', n * 100 + i) < rate)
               then (array['NIL', '+++', 'Trace', 'see comment', 'haemolysed', '<>', '12..5', 'N/A'])[1 + (pg_temp.h(s, 'lab.unpv', n * 100 + i) % 8)::int]
               else round((split_part(def, ':', 3)::numeric
                           + (split_part(def, ':', 4)::numeric - split_part(def, ':', 3)::numeric)
                             * (pg_temp.r(s, 'lab.val', n * 100 + i) * 1.3 - 0.1)::numeric), 2)::text end $$;

-- is the unit of analyte i of report n dropped (lab_missing_unit)?
create or replace function pg_temp.lab_unit_missing(s bigint, n bigint, i bigint, rate float8, pin bigint) returns boolean
language sql stable parallel safe as
$$ select (n = pin and i = 1) or (rate > 0 and pg_temp.r(s, 'lab_missing_unit', n * 100 + i) < rate) $$;

-- prescription r has 1 + ... items (average fan)
create or replace function pg_temp.rx_nitems(s bigint, r bigint, fan float8) returns int
language sql stable parallel safe as
$$ select 1 + floor(pg_temp.r(s, 'rx.nitems', r) * 2 * greatest(fan - 1, 0) + pg_temp.r(s, 'rx.nitems2', r))::int $$;

-- the medication of item j of prescription r (distinct within a prescription)
create or replace function pg_temp.rx_med(s bigint, r bigint, j int, nm bigint) returns bigint
language sql stable parallel safe as
$$ select 1 + (pg_temp.h(s, 'rx.med', r) + j - 1) % nm $$;

-- the kind of bill b: pharmacy, op, lab, rad, ip, other
create or replace function pg_temp.bill_kind(s bigint, b bigint) returns text
language sql stable parallel safe as
$$ select case when pg_temp.r(s, 'bill.kind', b) < 0.35 then 'pharmacy' when pg_temp.r(s, 'bill.kind', b) < 0.75 then 'op'
               when pg_temp.r(s, 'bill.kind', b) < 0.85 then 'lab' when pg_temp.r(s, 'bill.kind', b) < 0.90 then 'rad'
               when pg_temp.r(s, 'bill.kind', b) < 0.95 then 'ip' else 'other' end $$;

-- is bill b forced to be a pharmacy bill (walk-in, self bill, or the row pinned for external_item)?
create or replace function pg_temp.bill_forced(s bigint, b bigint, r_walk float8, r_self float8, nbill bigint) returns boolean
language sql stable parallel safe as
$$ select pg_temp.hit(s, 'walk_in_bill', b, r_walk, nbill) or pg_temp.hit(s, 'self_bill', b, r_self, nbill)
          or b = pg_temp.pin(s, 'external_item', nbill) $$;

-- the encounter of bill b (NULL for pharmacy counter bills)
create or replace function pg_temp.bill_enc(s bigint, b bigint, kind text, forced boolean, na bigint, nipe bigint,
                                            nlabe bigint) returns bigint
language sql stable parallel safe as
$$ select case when forced then null
               when kind = 'op' then pg_temp.ri(s, 'bill.enc', b, na)
               when kind in ('lab', 'rad') then na + nipe + pg_temp.ri(s, 'bill.enc', b, nlabe)
               when kind = 'ip' then na + pg_temp.ri(s, 'bill.enc', b, nipe) end $$;

-- when bill b was issued (true UTC): 30 minutes into its encounter, a day in the window for counter
-- bills, or up to 30 days after as_of for a future_date bill
create or replace function pg_temp.bill_issued(s bigint, b bigint, e bigint, future boolean, np bigint, as_of date,
                                               span int) returns timestamptz
language sql stable parallel safe as
$$ select case when future then pg_temp.at(as_of + 1 + (pg_temp.h(s, 'bill.fut', b) % 30)::int, 0.3)
               when e is not null then pg_temp.enc_start(s, e, np, as_of, span) + interval '30 minutes'
               else pg_temp.at(as_of - 1 - (pg_temp.h(s, 'bill.day', b) % (span - 1))::int,
                               0.15 + 0.5 * pg_temp.r(s, 'bill.tod', b)) end $$;

-- payments of bill b: count (at least 1 when a payment defect needs a row) and amount of payment j
create or replace function pg_temp.bill_npay_eff(s bigint, b bigint, fan float8, needs_row boolean) returns int
language sql stable parallel safe as
$$ select greatest(pg_temp.bill_npay(s, b, fan), case when needs_row then 1 else 0 end) $$;

create or replace function pg_temp.pay_amount(s bigint, b bigint, j int, npay int, billed numeric, overpay boolean) returns numeric
language sql stable parallel safe as
$$ select case when npay = 1 then case when not overpay and pg_temp.r(s, 'pay.part', b) < 0.2 then round(billed * 0.5, 2) else billed end
               when j = 1 then round(billed * 0.6, 2) else billed - round(billed * 0.6, 2) end
          + case when j = 1 and overpay then round((50 + pg_temp.r(s, 'pay.over', b) * 450)::numeric, 2) else 0 end $$;

create or replace function pg_temp.pay_method(s bigint, b bigint, j int) returns text
language sql stable parallel safe as
$$ select (array['cash', 'cash', 'upi', 'upi', 'card', 'insurance', 'cheque'])[1 + (pg_temp.h(s, 'pay.m', b * 10 + j) % 7)::int] $$;
