-- Finance section of the validation report: the billing money ops.quarantine holds open, by where
-- it was headed (billing.invoices, billing.charges, billing.payments, billing.invoice_lines), legacy
-- table and reason: rows, rows carrying an amount (detail.amount) and that amount. Rows without an
-- amount are counted elsewhere (a line of a quarantined bill: on the bill; a ledger copy: on the
-- row it copies; an invoice line: on its charge). Amounts and codes only.
select
    q.target_table,
    q.legacy_table,
    q.reason_code,
    count(*)::bigint as rows,
    (count(*) filter (where q.detail ? 'amount'))::bigint as rows_with_amount,
    sum((q.detail ->> 'amount')::numeric) as amount
from ops.quarantine as q
where q.resolved_at is null and split_part(q.target_table, '.', 1) = 'billing'
group by 1, 2, 3
order by 1, 2, 3
