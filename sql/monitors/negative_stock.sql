-- Monitor "negative_stock" (asset pharmacy/inventory_txns). Stock on hand is derived: the sum of the
-- signed quantities of the live ledger rows per (facility, item, batch), as view.stock_on_hand
-- computes it (read from the ledger, not the materialized view, so a stale refresh hides nothing).
-- Figure: the (facility, item, batch) whose stock on hand is below zero (dispensed more than was
-- received). Tolerated: 0.
select count(*)::numeric as figure
from (
    select t.facility_id, t.item_id, t.batch_id
    from pharmacy.inventory_txns as t
    where t.deleted_at is null
    group by t.facility_id, t.item_id, t.batch_id
    having sum(t.qty) < 0
) as negative
