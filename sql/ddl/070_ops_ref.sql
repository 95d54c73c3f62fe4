-- ops (audit, attachments) and ref (controlled vocabularies).
-- Conventions: see 020_core.sql. ops.audit_log and ref.codes are exempt from principle 6:
-- the audit log is append-only (its "at" is its timestamp) and codes are reference data keyed
-- by (code, system).

-- Grain: one row per audited event (row change written by ops.audit_row(), or a rule bypass
-- such as EXPIRY_CHECK_BYPASSED). Append-only. actor_user_id has no FK on purpose: the log must
-- outlive the users it names.
create table if not exists ops.audit_log (
    audit_id bigserial primary key,
    at timestamptz default now(),
    actor_user_id uuid,
    action text,
    table_name text,
    pk jsonb,
    before jsonb,
    after jsonb
);
-- History of one row; also used by pharmacy.check_batch_expiry() to record a bypass once.
create index if not exists idx_audit_log_table_pk on ops.audit_log (table_name, pk);

-- Grain: one row per file attached to a canonical row (owner_table/owner_id: polymorphic, no FK).
-- Principle 6 columns added (the blueprint lists none here); uploaded_by has no FK, as declared.
create table if not exists ops.attachments (
    attachment_id uuid primary key default gen_random_uuid(),
    owner_table text,
    owner_id uuid,
    url text,
    mime text,
    uploaded_by uuid,
    uploaded_at timestamptz default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by text,
    updated_by text,
    deleted_at timestamptz
);
create index if not exists idx_attachments_owner on ops.attachments (owner_table, owner_id);
create or replace trigger trg_set_updated_at
    before update on ops.attachments
    for each row execute function ops.set_updated_at();

-- Grain: one row per code in a code system (ICD-10, LOINC, local vocabularies, ...).
create table if not exists ref.codes (
    code text,
    system text,
    display text,
    primary key (code, system)
);
