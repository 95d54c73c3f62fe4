-- ref.codes contribution of pharmacy's stock ledger (runs after sql/ref/codes.sql, see
-- hms_pipeline/engine/scripted.py): the legacy ledger vocabulary read by
-- sql/pharmacy/inventory_txns.sql and its conservation checks (sql/pharmacy/inventory_txns.checks/).
-- It serves both legacy ledgers (stock_transactions and its ghost twin pharmacy_stock_transactions,
-- the same shape). code = the legacy transaction_type as matched (etl.norm_key: lower case, blanks
-- collapsed). A legacy type not listed here is quarantined (UNMAPPED_VALUE: without a type the
-- movement has no sign); edit these rows to map it (no code change), the next run applies them.
--   * map:stock_transactions.transaction_type: legacy type -> ledger type (the CHECK list of
--     pharmacy.inventory_txns.txn_type): purchases, opening balances and transfers in are receipts
--     (GRN); sales are dispenses to a patient or a counter customer (DISPENSE); transfers out are
--     department issues (ISSUE, 'Department Issue: ...'); customer returns and returns to the
--     supplier are RETURN; write-offs, counts and the adjustment kinds are ADJUST;
--   * map:stock_transactions.direction: the sign the type gives the quantity (Q10: the stored sign
--     is inconsistent, so the type decides): 'in' = added to stock (qty > 0), 'out' = removed
--     (qty < 0), 'either' = the stored sign stands (a stock take counts up or down). A stored sign
--     that contradicts 'in'/'out' is corrected with a WARN (WRONG_SIGN).
insert into ref.codes (code, system, display)
select v.code, v.system, v.display
from (values
    ('map:stock_transactions.transaction_type', 'purchase', 'GRN'),
    ('map:stock_transactions.transaction_type', 'opening_balance', 'GRN'),
    ('map:stock_transactions.transaction_type', 'transfer_in', 'GRN'),
    ('map:stock_transactions.transaction_type', 'sale', 'DISPENSE'),
    ('map:stock_transactions.transaction_type', 'transfer_out', 'ISSUE'),
    ('map:stock_transactions.transaction_type', 'return', 'RETURN'),
    ('map:stock_transactions.transaction_type', 'purchase_return', 'RETURN'),
    ('map:stock_transactions.transaction_type', 'adjustment', 'ADJUST'),
    ('map:stock_transactions.transaction_type', 'manual_adjustment', 'ADJUST'),
    ('map:stock_transactions.transaction_type', 'billing_adjustment', 'ADJUST'),
    ('map:stock_transactions.transaction_type', 'expired', 'ADJUST'),
    ('map:stock_transactions.transaction_type', 'stock_take', 'ADJUST'),
    ('map:stock_transactions.direction', 'purchase', 'in'),
    ('map:stock_transactions.direction', 'opening_balance', 'in'),
    ('map:stock_transactions.direction', 'transfer_in', 'in'),
    ('map:stock_transactions.direction', 'return', 'in'),
    ('map:stock_transactions.direction', 'sale', 'out'),
    ('map:stock_transactions.direction', 'transfer_out', 'out'),
    ('map:stock_transactions.direction', 'purchase_return', 'out'),
    ('map:stock_transactions.direction', 'adjustment', 'out'),
    ('map:stock_transactions.direction', 'manual_adjustment', 'out'),
    ('map:stock_transactions.direction', 'billing_adjustment', 'out'),
    ('map:stock_transactions.direction', 'expired', 'out'),
    ('map:stock_transactions.direction', 'stock_take', 'either')
) as v (system, code, display)
on conflict (code, system) do update
set display = excluded.display
where ref.codes.display is distinct from excluded.display;
