-- Step "upsert": write the LOADED rows of _ok. <order> is "order by <pk>" on a bulk write (the one
-- index kept grows at its right edge); <on_conflict> is empty into an empty table on a bulk write,
-- else "on conflict (<pk>) do update ... where (<target columns>) is distinct from (<new values>)"
-- (a row that does not really differ is not written, so updated_at does not move).
-- Parameters: actor (created_by / updated_by of audited tables).
insert into {target} as t ({insert_cols})
select {insert_vals} from _ok where _final = 'LOADED' {order}
{on_conflict}
