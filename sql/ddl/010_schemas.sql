-- Canonical schemas (blueprint "Schemas" section, phase 1: create, never drop).
--
-- Row level security: deliberately NOT enabled here. The blueprint turns RLS and audit triggers on
-- table by table after application verification (phase 5); that is a later issue. Nothing in
-- sql/ddl/ may "alter table ... enable row level security" until then.
--
-- Principle 2 also names a "lab" schema, but the blueprint's tables put every lab table in
-- clinical.*, so no lab schema is created.

create schema if not exists core;
create schema if not exists clinical;
create schema if not exists inpatient;
create schema if not exists pharmacy;
create schema if not exists billing;
create schema if not exists ops;
create schema if not exists ref;
-- "view" is a SQL keyword; it is always written quoted.
create schema if not exists "view";

comment on schema core is 'People, organisation, schedules';
comment on schema clinical is 'Appointments, encounters, vitals, lab orders/results';
comment on schema inpatient is 'Admissions, wards, beds, bed allocations';
comment on schema pharmacy is 'Items, batches, inventory ledger, prescriptions, dispensing';
comment on schema billing is 'Fee catalog, charges, invoices, payments';
comment on schema ops is 'Audit log, attachments, migration provenance';
comment on schema ref is 'Controlled vocabularies and codes';
comment on schema "view" is 'Reporting views and materialized views over the canonical tables';
