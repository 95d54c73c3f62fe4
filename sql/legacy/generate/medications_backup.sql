-- medications_backup: a CREATE TABLE AS copy of nbk medications rows (465 of 707 at demo; same id
-- and code), left in production (contract defect 18; Q4)
insert into medications_backup
select m.* from medications m
order by md5(%(seed)s::text || ':backup:' || m.id::text)
limit %(nbk)s
