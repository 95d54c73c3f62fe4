-- appointments (blueprint profile only, a plain table): what the live alias view returns, a copy of
-- every appointment row (contract defect 18)
insert into appointments select * from appointment
