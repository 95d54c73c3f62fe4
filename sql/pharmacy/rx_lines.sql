-- pharmacy.rx_lines. Grain: one row per prescribed item on a prescription.
-- Source: prescription_items (one line per legacy row, id etl.canonical_id of its key; never merged).
--
-- rx_id: prescription_id -> pharmacy.prescriptions through provenance (a live row); a line whose
--   prescription did not load is quarantined with it (ORPHAN_FK, column prescription_id) and
--   retried on the next run that writes prescriptions.
-- item (a live, surviving pharmacy.items row; never a soft-deleted or merged-away one), the first of:
--   1 medication_id through provenance: the medications row's item (a legacy drug row MERGED into
--     another resolves to the survivor's item, ops.legacy_id_map), else a medicines row with that
--     id (the blueprint's second drug table);
--   2 medication_name, the denormalized copy (Q24), matched as the drug master matches names
--     (pharmacy.match_name: case, blanks, '500 mg' = '500mg') against the name of every legacy drug
--     row and of every item: one item -> that item, WARN FREE_TEXT_REF (plus ORPHAN_FK when a
--     medication_id was given and resolves to nothing); several items -> item NULL, WARN
--     AMBIGUOUS_REF; none -> item NULL, WARN ORPHAN_FK (column medication_id, else medication_name).
--   A line without its item still loads: the prescription was written (the item is on the review
--   list through its WARN; the suite's item_id expectation is a WARN).
-- dose, frequency, duration: as written (pharmacy.clean_text: blanks collapsed, blank = NULL).
-- instructions: as written, split by etl.labelled_parts (the one ' | ' splitter, Q32) only where a
--   column holds the part: a 'Frequency: x' part fills frequency when the frequency column is empty
--   and is dropped from instructions when it repeats it (then the other parts are rejoined with
--   ' | '); one that contradicts the column stays in instructions, WARN ENCODING_CONFLICT. 'Meal
--   timing: ...' (no canonical column) and every other part stay in instructions.
-- route: the legacy data has none (NULL).
-- qty = quantity (the prescribed quantity) when > 0 (and below 10^9, what numeric(12,3) holds); else
--   NULL, WARN OUT_OF_RANGE; none: NULL, WARN MISSING_VALUE.
-- status: map:prescription_items.status by etl.norm_key; unknown: NULL, WARN UNKNOWN_STATUS (a
--   variant spelling of a known one: WARN VOCAB_VARIANT).
-- Legacy columns: id (key), prescription_id, medication_id, dosage, frequency, duration, quantity,
--   instructions, status, created_at (mapped above); kept in legacy_attributes: medication_name,
--   status as written, unit_price, total_price (money is billing's, principle 5: kept for the
--   compatibility layer), dispensed_quantity, remaining_quantity, dispensed_date, dispensed_by (the
--   line's own dispensing counters: they name no batch, so no dispense is built from them; the
--   dispenses are prescription_dispensed_items' and prescription_dispensing's), billing_acknowledged,
--   billing_acknowledged_by/_at, billing_edited, billing_last_edited_by/_at; updated_at: dropped.
-- _detail: 'warn' is a row's first warning, 'warns' all of them; column names and rules only.
with lines as (
    select s.*, pharmacy.match_name(s.medication_name) as name_key
    from stg.prescription_items as s
    where not s._deleted
),

rx_map as materialized (
    select m.legacy_key, p.rx_id, p.created_at
    from etl.mapped_ids('pharmacy.prescriptions', 'prescriptions') as m
    join pharmacy.prescriptions as p on p.rx_id = m.canonical_id and p.deleted_at is null
),

-- every legacy drug row -> its live item (a merged row -> its survivor's item)
item_map as materialized (
    select m.legacy_table, m.legacy_key, m.canonical_id as item_id
    from etl.mapped_ids('pharmacy.items') as m
    join pharmacy.items as i on i.item_id = m.canonical_id and i.deleted_at is null
),

-- every legacy drug row's name as matched (computed once per row: MATERIALIZED)
drug_names as materialized (
    select 'medications'::text as legacy_table, s._key, pharmacy.match_name(s.name) as name_key
    from stg.medications as s
    where not s._deleted
    union all
    select 'medicines'::text, s._key, pharmacy.match_name(s.name)
    from stg.medicines as s
    where not s._deleted
),

-- a drug name as matched -> the live items it names (by their legacy rows' names and their own)
name_index as materialized (
    select
        x.name_key,
        count(distinct x.item_id) as n_items,
        (array_agg(x.item_id))[1] as item_id
    from (
        select d.name_key, im.item_id
        from drug_names as d
        join item_map as im on im.legacy_table = d.legacy_table and im.legacy_key = d._key
        union
        select pharmacy.match_name(i.name), i.item_id
        from pharmacy.items as i
        where i.deleted_at is null
    ) as x
    where x.name_key is not null
    group by x.name_key
),

statuses as (
    select c.code, c.display
    from ref.codes as c
    where c.system = 'map:prescription_items.status'
),

resolved as (
    select
        s._key,
        s.medication_id,
        s.medication_name,
        s.quantity,
        s.status,
        s.created_at,
        pharmacy.clean_text(s.dosage) as dose,
        pharmacy.clean_text(s.frequency) as frequency_column,
        pharmacy.clean_text(s.duration) as duration,
        s.instructions,
        rx.rx_id,
        rx.created_at as rx_created_at,
        coalesce(by_med.item_id, by_medicine.item_id) as id_item,
        ni.n_items,
        ni.item_id as name_item,
        s.name_key,
        st.display as status_mapped,
        etl.norm_key(s.status) as status_key,
        jsonb_build_object(
            'medication_name', s.medication_name, 'status', s.status, 'unit_price', s.unit_price,
            'total_price', s.total_price, 'dispensed_quantity', s.dispensed_quantity,
            'remaining_quantity', s.remaining_quantity, 'dispensed_date', s.dispensed_date,
            'dispensed_by', s.dispensed_by, 'billing_acknowledged', s.billing_acknowledged,
            'billing_acknowledged_by', s.billing_acknowledged_by, 'billing_acknowledged_at', s.billing_acknowledged_at,
            'billing_edited', s.billing_edited, 'billing_last_edited_by', s.billing_last_edited_by,
            'billing_last_edited_at', s.billing_last_edited_at) as attributes
    from lines as s
    left join rx_map as rx on rx.legacy_key = s.prescription_id::text
    left join item_map as by_med on by_med.legacy_table = 'medications' and by_med.legacy_key = s.medication_id::text
    left join item_map as by_medicine
        on by_medicine.legacy_table = 'medicines' and by_medicine.legacy_key = s.medication_id::text
    left join name_index as ni on ni.name_key = s.name_key
    left join statuses as st on st.code = etl.norm_key(s.status)
),

-- the instructions' labelled parts (etl.labelled_parts, split once per row); the 'Frequency:'
-- part moves to frequency where it fills or repeats the column
parts as materialized (
    select l._key, p.n, p.part, p.label, p.value
    from lines as l
    cross join lateral etl.labelled_parts(l.instructions) as p
),

frequency_parts as (
    select p._key, (array_agg(p.value order by p.n))[1] as frequency_part
    from parts as p
    where p.label = 'frequency'
    group by p._key
),

with_frequency as (
    select
        r.*,
        f.frequency_part,
        coalesce(r.frequency_column, f.frequency_part) as frequency,
        f.frequency_part is not null and r.frequency_column is not null
            and etl.norm_key(f.frequency_part) <> etl.norm_key(r.frequency_column) as frequency_conflict
    from resolved as r
    left join frequency_parts as f on f._key = r._key
),

kept_parts as (
    select
        p._key,
        string_agg(p.part, ' | ' order by p.n) filter (where not p.moves) as kept,
        count(*) filter (where p.moves) as moved
    from (
        select q._key, q.n, q.part,
               coalesce(q.label = 'frequency' and etl.norm_key(q.value) = etl.norm_key(w.frequency), false) as moves
        from parts as q
        join with_frequency as w on w._key = q._key
    ) as p
    group by p._key
),

split as (
    select w.*, k.kept, coalesce(k.moved, 0) as moved
    from with_frequency as w
    left join kept_parts as k on k._key = w._key
),

checked as (
    select
        s.*,
        coalesce(s.id_item, case when s.n_items = 1 then s.name_item end) as item_id,
        array_remove(array[
            case when s.id_item is null and s.n_items = 1 then 'FREE_TEXT_REF' end,  -- medication_name
            case when s.id_item is null and s.n_items > 1 then 'AMBIGUOUS_REF' end,  -- medication_name
            case when s.id_item is null and (s.medication_id is not null or s.n_items is null) then 'ORPHAN_FK' end,
            case when s.quantity is null then 'MISSING_VALUE'
                 when s.quantity <= 0 or s.quantity >= 1000000000 then 'OUT_OF_RANGE' end,  -- quantity
            case when s.frequency_conflict then 'ENCODING_CONFLICT' end,  -- frequency vs instructions
            case when s.status_key is not null and s.status_mapped is null then 'UNKNOWN_STATUS'
                 when s.status_mapped is not null and s.status is distinct from s.status_key then 'VOCAB_VARIANT' end
        ], null) as warns
    from split as s
),

final as (
    select
        etl.canonical_id('pharmacy.rx_lines', 'prescription_items', c._key) as rx_line_id,
        c.rx_id,
        c.item_id,
        c.dose,
        c.frequency,
        c.duration,
        null::text as route,
        case when c.moved > 0 then pharmacy.clean_text(c.kept) else pharmacy.clean_text(c.instructions) end as instructions,
        case when c.quantity > 0 and c.quantity < 1000000000 then c.quantity end::numeric(12,3) as qty,
        c.status_mapped as status,
        jsonb_strip_nulls(c.attributes) as legacy_attributes,
        coalesce(c.created_at, c.rx_created_at) as created_at,
        'prescription_items'::text as _legacy_table,
        c._key as _legacy_key,
        'LOADED'::text as _disposition,
        case when c.rx_id is null then 'ORPHAN_FK' end as _reason,
        case
            when c.rx_id is null
                then jsonb_build_object('column', 'prescription_id', 'rule', 'prescription not in pharmacy.prescriptions')
            when c.warns <> '{}'
                then jsonb_strip_nulls(jsonb_build_object(
                    'warn', c.warns[1],
                    'warns', to_jsonb(c.warns),
                    'item', case when c.id_item is not null then null
                                 when c.n_items = 1 then 'by medication_name'
                                 when c.n_items > 1 then 'medication_name names several items'
                                 else 'neither medication_id nor medication_name names an item' end))
        end as _detail
    from checked as c
)

select * from final
