-- medications_backup: a CREATE TABLE AS copy of about two thirds of medications (same id and code),
-- left in production (contract defect 18; Q4).
insert into medications_backup
select m.* from medications m
where pg_temp.r(%(seed)s::bigint, 'backup:' || m.id::text, 0) < %(nbk)s::float8 / greatest(%(nm)s::bigint, 1)
