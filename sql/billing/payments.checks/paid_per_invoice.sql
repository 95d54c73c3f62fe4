-- Each invoice's paid_amount is the sum of its payments: expected = billing.invoices.paid_amount,
-- actual = the sum of its live billing.payments rows (0 when none). Subject: the invoice id.
select
    i.invoice_id::text as subject,
    i.paid_amount as expected,
    coalesce(sum(p.amount), 0) as actual
from billing.invoices as i
left join billing.payments as p on p.invoice_id = i.invoice_id and p.deleted_at is null
where i.deleted_at is null
group by i.invoice_id, i.paid_amount
