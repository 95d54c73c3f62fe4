-- compat write path: billing_items. Live, billing_items is a view over billing_item (App. C #6) and
-- the switch re-creates it over the billing_item compatibility view, so this function only serves the
-- blueprint profile, where billing_items is a table of copies of billing_item rows (Q2): a copy is
-- MERGED into the charge and the invoice line of the billing_item row with the same id (rule COPY,
-- sql/billing/charges.sql, invoice_lines.sql), never charged again.
--   INSERT / UPDATE  record the copy's provenance (MERGED) against the live charge and invoice line of
--     billing_item <id>; a copy of no live billing_item row raises ORPHAN_FK (column id), as the
--     backfill quarantines it (the archive keeps the row and the view shows it from there).
--   DELETE  removes the copy's provenance (the original billing_item row and its charge stay).
-- The rule is also the exception's CONSTRAINT name, so ops.quarantine.detail.constraint names it.
create or replace function compat.apply_billing_items(p_op text, p_key text, p_new jsonb, p_old jsonb)
returns void
language plpgsql
as $$
declare
    v_charge_id uuid;
    v_line_id uuid;
begin
    if p_op = 'DELETE' then
        delete from ops.legacy_id_map as m
        where m.legacy_table = 'billing_items' and m.legacy_key = p_key
          and m.canonical_table in ('billing.charges', 'billing.invoice_lines');
        return;
    end if;

    select c.charge_id into v_charge_id
    from billing.charges as c
    where c.charge_id = compat.billing_canonical('billing_item', p_key, 'billing.charges') and c.deleted_at is null;
    select l.line_id into v_line_id
    from billing.invoice_lines as l
    where l.line_id = compat.billing_canonical('billing_item', p_key, 'billing.invoice_lines') and l.deleted_at is null;
    if v_charge_id is null or v_line_id is null then
        raise exception 'compat billing_items: rule ORPHAN_FK, column id: a copy of no live billing_item row'
            using column = 'id', constraint = 'ORPHAN_FK';
    end if;

    insert into ops.legacy_id_map as m (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id)
    values ('billing_items', p_key, 'billing.charges', v_charge_id, 'MERGED', 'compat'),
           ('billing_items', p_key, 'billing.invoice_lines', v_line_id, 'MERGED', 'compat')
    on conflict (legacy_table, legacy_key, canonical_table)
    do update set canonical_id = excluded.canonical_id, disposition = 'MERGED', run_id = 'compat', mapped_at = now();
end
$$;
