-- Each invoice's due_amount is its lines' sum - discount + tax: expected = billing.invoices.due_amount,
-- actual = the sum of its live billing.invoice_lines amounts - discount_amount + tax_amount. Subject:
-- the invoice id.
select
    i.invoice_id::text as subject,
    i.due_amount as expected,
    coalesce(sum(l.amount), 0) - coalesce(i.discount_amount, 0) + coalesce(i.tax_amount, 0) as actual
from billing.invoices as i
left join billing.invoice_lines as l on l.invoice_id = i.invoice_id and l.deleted_at is null
where i.deleted_at is null
group by i.invoice_id, i.due_amount, i.discount_amount, i.tax_amount
