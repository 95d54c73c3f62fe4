-- clinical.vitals. Grain: one row per vital-sign measurement (one legacy value).
-- Sources (Q30), unpivoted with one VALUES list each, legacy key '<legacy id>#<kind>':
--   * vitals: the wide DS row (typed columns). Encounter: vitals.encounter_id through provenance
--     (an encounter merged into an IPD stay resolves to the stay). taken_at = recorded_at.
--   * patients: the TEXT vitals of the wide row (Q22), taken at the row's admission_date +
--     admission_time (IST wall clock, Q28: etl.local_wall_clock, the time encounters.sql attaches
--     the row by), else created_at. Encounter: the one encounters.sql attached or inferred for
--     '<patient id>#inferred' (counted as WARN INFERRED_ENCOUNTER).
-- Kinds and units (explicit; the legacy stores none): bp_systolic/bp_diastolic mmHg, heart_rate
-- bpm (patients.pulse), temperature °F or °C (patients.temp_unit; without a unit, and always in the
-- vitals table, °F when the value > 45, else °C; a patients row without temp_unit is a WARN
-- MISSING_UNIT), respiratory_rate /min, oxygen_saturation percent (patients.spo2), weight kg, height cm,
-- bmi kg/m2, pain_scale 0-10, blood_glucose mg/dL (patients.random_blood_sugar).
-- Every value is read by etl.try_numeric (never raises), the typed columns too (as text: a column
-- whose type drifted to TEXT reads the same way).
-- Quarantine, per value (the row's other values still load):
--   UNPARSEABLE_VALUE  TEXT that is not a plain number ('NA', '98.6F', '120/80 mmHg', '1,200',
--                      '98-99', '12O', ..., and a typed NaN/Infinity);
--   OUT_OF_RANGE       physiologically impossible, inclusive plausible ranges per kind below (the
--                      ranges of hms_pipeline.legacy.generator.VITAL_RANGES);
--   ORPHAN_FK          no (live) encounter to attach the value to.
-- A vitals row without any value (every measurement NULL) has nothing to load: quarantined whole
-- (MISSING_VALUE, legacy key the row's key) so it is still accounted for.
-- Blank TEXT is no measurement (no row; etl.has_text_vitals, as in the spec's predicate). _detail
-- names kind/column/range, never the raw text.
-- Work: the changed legacy rows, plus rows whose encounter mapping changed this run (an encounter
-- merged into an admission, a record attached to another encounter).
with ranges as (
    select *
    from (values
        ('bp_systolic', 'mmHg', 50.0, 260.0),
        ('bp_diastolic', 'mmHg', 20.0, 160.0),
        ('heart_rate', 'bpm', 20.0, 250.0),
        ('temperature', '°F', 85.0, 110.0),
        ('temperature', '°C', 30.0, 43.0),
        ('respiratory_rate', '/min', 4.0, 60.0),
        ('oxygen_saturation', '%%', 50.0, 100.0),
        ('weight', 'kg', 0.5, 300.0),
        ('height', 'cm', 30.0, 250.0),
        ('bmi', 'kg/m2', 8.0, 80.0),
        ('pain_scale', '0-10', 0.0, 10.0),
        ('blood_glucose', 'mg/dL', 20.0, 800.0)
    ) as r (kind, unit, lo, hi)
),

vitals as (
    select s.*
    from stg.vitals as s
    where not s._deleted
),

patients as (
    select s.*
    from stg.patients as s
    where not s._deleted
),

encounter_map as materialized (
    select * from etl.encounter_refs(%(run_id)s)
),

-- the wide vitals table: typed values
table_values as (
    select
        'vitals'::text as legacy_table,
        s._key,
        v.kind,
        v.col,
        null::text as raw,
        etl.try_numeric(v.raw) as value,
        case when v.kind = 'temperature' then case when etl.try_numeric(v.raw) > 45 then '°F' else '°C' end end as unit,
        coalesce(s.recorded_at, s.created_at) as taken_at,
        em.encounter_id,
        null::text as encounter_link,
        false as unit_missing
    from vitals as s
    cross join lateral (values
        ('bp_systolic', 'blood_pressure_systolic', s.blood_pressure_systolic::text),
        ('bp_diastolic', 'blood_pressure_diastolic', s.blood_pressure_diastolic::text),
        ('heart_rate', 'heart_rate', s.heart_rate::text),
        ('temperature', 'temperature', s.temperature::text),
        ('respiratory_rate', 'respiratory_rate', s.respiratory_rate::text),
        ('oxygen_saturation', 'oxygen_saturation', s.oxygen_saturation::text),
        ('weight', 'weight', s.weight::text),
        ('height', 'height', s.height::text),
        ('pain_scale', 'pain_scale', s.pain_scale::text),
        ('blood_glucose', 'blood_glucose', s.blood_glucose::text)
    ) as v (kind, col, raw)
    left join encounter_map as em on em.legacy_table = 'encounter' and em.legacy_key = s.encounter_id::text
    -- a join, not "or exists (...)": see the work filters of clinical/encounters.sql
    left join _todo as td on td.legacy_table = 'vitals' and td.key = s._key
    where v.raw is not null
      and (em.changed or td.key is not null)
),

-- the TEXT vitals on patients
text_values as (
    select
        'patients'::text as legacy_table,
        s._key,
        v.kind,
        v.col,
        btrim(v.raw) as raw,
        etl.try_numeric(v.raw) as value,
        case when v.kind = 'temperature' then
            case
                when upper(replace(btrim(s.temp_unit), '°', '')) in ('F', 'FAHRENHEIT') then '°F'
                when upper(replace(btrim(s.temp_unit), '°', '')) in ('C', 'CELSIUS') then '°C'
                when etl.try_numeric(v.raw) > 45 then '°F'
                else '°C'
            end
        end as unit,
        coalesce(etl.local_wall_clock(s.admission_date, s.admission_time, %(facility_tz)s), s.created_at) as taken_at,
        em.encounter_id,
        case em.disposition when 'LOADED' then 'created' when 'MERGED' then 'attached' end as encounter_link,
        v.kind = 'temperature'
            and coalesce(upper(replace(btrim(s.temp_unit), '°', '')), '') not in ('F', 'C', 'FAHRENHEIT', 'CELSIUS')
            as unit_missing
    from patients as s
    cross join lateral (values
        ('height', 'height', s.height),
        ('weight', 'weight', s.weight),
        ('bmi', 'bmi', s.bmi),
        ('temperature', 'temperature', s.temperature),
        ('bp_systolic', 'bp_systolic', s.bp_systolic),
        ('bp_diastolic', 'bp_diastolic', s.bp_diastolic),
        ('heart_rate', 'pulse', s.pulse),
        ('oxygen_saturation', 'spo2', s.spo2),
        ('respiratory_rate', 'respiratory_rate', s.respiratory_rate),
        ('blood_glucose', 'random_blood_sugar', s.random_blood_sugar)
    ) as v (kind, col, raw)
    left join encounter_map as em on em.legacy_table = 'patients' and em.legacy_key = s._key || '#inferred'
    left join _todo as td on td.legacy_table = 'patients' and td.key = s._key
    where etl.has_text_vitals(v.raw)  -- blank TEXT is no measurement
      and (em.changed or td.key is not null)
),

measured as (
    select * from table_values
    union all
    select * from text_values
),

-- changed vitals rows that hold no measurement at all
empty_rows as (
    select s._key
    from vitals as s
    join _todo as td on td.legacy_table = 'vitals' and td.key = s._key
    where num_nonnulls(s.blood_pressure_systolic, s.blood_pressure_diastolic, s.heart_rate, s.temperature,
                       s.respiratory_rate, s.oxygen_saturation, s.weight, s.height, s.pain_scale,
                       s.blood_glucose) = 0
),

checked as (
    select
        m.*,
        coalesce(r.unit, m.unit) as final_unit,
        r.lo,
        r.hi,
        case
            when m.value is null then 'UNPARSEABLE_VALUE'
            when m.value not between r.lo and r.hi then 'OUT_OF_RANGE'
            when m.encounter_id is null then 'ORPHAN_FK'
        end as reason
    from measured as m
    join ranges as r on r.kind = m.kind and (m.unit is null or r.unit = m.unit)
),

final as (
    select
        etl.canonical_id('clinical.vitals', c.legacy_table, c._key || '#' || c.kind) as vital_id,
        c.encounter_id,
        c.taken_at,
        c.kind,
        c.value,
        c.final_unit as unit,
        c.taken_at as created_at,
        c.legacy_table as _legacy_table,
        c._key || '#' || c.kind as _legacy_key,
        'LOADED'::text as _disposition,
        c.reason as _reason,
        case
            when c.reason = 'UNPARSEABLE_VALUE'
                then jsonb_build_object('column', c.col, 'kind', c.kind, 'rule', 'not a plain number')
            when c.reason = 'OUT_OF_RANGE'
                then jsonb_build_object('column', c.col, 'kind', c.kind, 'unit', c.final_unit, 'lo', c.lo, 'hi', c.hi)
            when c.reason = 'ORPHAN_FK'
                then jsonb_build_object('column', 'encounter_id', 'kind', c.kind, 'rule', 'no live encounter')
            when c.encounter_link is not null
                then jsonb_build_object(
                    'warn', 'INFERRED_ENCOUNTER', 'encounter', c.encounter_link,
                    'warns', array_remove(array['INFERRED_ENCOUNTER', case when c.unit_missing then 'MISSING_UNIT' end], null))
            when c.unit_missing then jsonb_build_object('warn', 'MISSING_UNIT', 'column', 'temp_unit')
        end as _detail
    from checked as c

    union all

    select
        null::uuid,
        null::uuid,
        null::timestamptz,
        null::text,
        null::numeric,
        null::text,
        null::timestamptz,
        'vitals'::text,
        e._key,
        'LOADED'::text,
        'MISSING_VALUE'::text,
        jsonb_build_object('rule', 'vitals row without any measurement')
    from empty_rows as e
)

select * from final
