-- Pre-flight: refused rows join the transform's own quarantined rows in _cand (same path on to
-- ops.quarantine): one reason per legacy key and reason code, whose detail is the first by text and
-- lists every violated constraint or expectation (detail.all) when there are several. The row
-- itself takes its first reason (by code); each other reason becomes one more reason row of _cand.
with per_reason as (
    select _legacy_table, _legacy_key, _reason,
           (array_agg(_detail order by _detail::text))[1]
               || case when count(*) > 1
                       then jsonb_build_object('all', jsonb_agg(coalesce(_detail ->> 'constraint', _detail ->> 'expectation')
                                                                 order by _detail::text))
                       else '{{}}'::jsonb end as _detail,
           row_number() over (partition by _legacy_table, _legacy_key order by _reason) as _n
    from _pf_new
    group by _legacy_table, _legacy_key, _reason
),
marked as (
    update _cand as c set _reason = v._reason, _detail = v._detail
    from per_reason as v
    where v._n = 1 and c._legacy_table = v._legacy_table and c._legacy_key = v._legacy_key and c._reason is null
    returning 1
)
insert into _cand (_legacy_table, _legacy_key, _disposition, _reason, _detail)
select _legacy_table, _legacy_key, 'LOADED', _reason, _detail from per_reason where _n > 1
