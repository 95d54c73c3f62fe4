-- Reporting views (blueprint "Materialized/Normal Views"). Views are "create or replace";
-- the materialized view is "create ... if not exists", so changing its definition later needs
-- an explicit migration (a re-apply leaves an existing one untouched).

-- Grain: one row per admission that is not discharged and not soft-deleted, with its patient
-- (via the encounter) and its current bed: the latest open (end_at is null) allocation, or NULLs
-- when the patient has no bed (an "admission without bed" to monitor).
create or replace view "view".active_admissions as
select
    a.admission_id,
    a.encounter_id,
    e.patient_id,
    p.uhid,
    a.facility_id,
    a.admit_at,
    a.reason,
    ba.allocation_id,
    ba.bed_id,
    b.label as bed_label,
    b.ward_id,
    ba.start_at as bed_since
from inpatient.admissions a
join clinical.encounters e
    on e.encounter_id = a.encounter_id
   and e.deleted_at is null
join core.patients p
    on p.patient_id = e.patient_id
   and p.deleted_at is null
left join lateral (
    select
        x.allocation_id,
        x.bed_id,
        x.start_at
    from inpatient.bed_allocations x
    where x.admission_id = a.admission_id
      and x.end_at is null
      and x.deleted_at is null
    order by x.start_at desc nulls last, x.allocation_id
    limit 1
) ba on true
left join inpatient.beds b
    on b.bed_id = ba.bed_id
where a.discharge_at is null
  and a.deleted_at is null;

-- Grain: one row per invoice that is not soft-deleted: its patient, the count and total of its
-- (not soft-deleted) lines, and the invoice's due and paid amounts.
create or replace view "view".billing_summary as
select
    i.invoice_id,
    i.patient_id,
    p.uhid,
    i.encounter_id,
    i.admission_id,
    i.status,
    i.issued_at,
    l.line_count,
    l.lines_total,
    i.due_amount,
    i.paid_amount
from billing.invoices i
left join core.patients p
    on p.patient_id = i.patient_id
cross join lateral (
    select
        count(*) as line_count,
        coalesce(sum(il.amount), 0)::numeric(14,2) as lines_total
    from billing.invoice_lines il
    where il.invoice_id = i.invoice_id
      and il.deleted_at is null
) l
where i.deleted_at is null;

-- Grain: one row per (facility_id, item_id, batch_id): the stock on hand, the sum of the signed
-- quantities of the ledger's rows that are not soft-deleted (principle 4: stock is derived).
create materialized view if not exists "view".stock_on_hand as
select
    t.facility_id,
    t.item_id,
    t.batch_id,
    sum(t.qty) as qty_on_hand,
    max(t.occurred_at) as last_txn_at
from pharmacy.inventory_txns t
where t.deleted_at is null
group by t.facility_id, t.item_id, t.batch_id
with data;

-- The unique index REFRESH MATERIALIZED VIEW CONCURRENTLY requires (column names only, no WHERE).
-- batch_id is NULL for movements not tracked by batch (facility_id/item_id are nullable too), so the
-- key is NULLS NOT DISTINCT (PG15+): like the GROUP BY, it treats NULLs as one value, making the
-- index a real key of the view's grain. (A concurrent refresh matches old and new rows with "=",
-- so rows with a NULL key are rewritten on every refresh: correct, just not incremental.)
create unique index if not exists ux_stock_on_hand_key
    on "view".stock_on_hand (facility_id, item_id, batch_id) nulls not distinct;
