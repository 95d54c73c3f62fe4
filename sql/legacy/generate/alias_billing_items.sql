-- billing_items (blueprint profile only, a plain table): a copy of every billing_item row, as the
-- live alias view returns (contract defect 18)
insert into billing_items select * from billing_item
