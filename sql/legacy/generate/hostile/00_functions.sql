-- Helpers of the hostile profile (pg_temp, per session; run without parameters, so a literal
-- percent sign would be fine here, but none is used). Every value is a function of (seed, tag,
-- variant rank): no random(), no now().

-- variant k of a text value that differs from it only by case, spaces or Unicode form:
-- 1 upper case (lower case if it is upper case already), 2 another case (lower, else initcap,
-- never variant 1's), 3 doubled inner spaces and a leading/trailing blank, 4 a no-break space
-- (U+00A0), 5 decomposed (NFD) or, for plain ASCII, a full-width first letter (equal under NFKC).
-- A value that has no such variant (e.g. '%') gets a trailing blank.
create or replace function pg_temp.hvariant(v text, k int) returns text
language sql immutable parallel safe as
$$ select case when c is null or c <> v then c else v || ' ' end
   from (select case mod(k - 1, 5) + 1
                    when 1 then case when upper(v) <> v then upper(v) else lower(v) end
                    when 2 then case when upper(v) <> v and lower(v) <> v then lower(v)
                                     when initcap(lower(v)) not in (v, lower(v)) then initcap(lower(v))
                                     else v || ' ' end
                    when 3 then ' ' || replace(v, ' ', '  ') || ' '
                    when 4 then case when strpos(v, ' ') > 0 then replace(v, ' ', chr(160)) else v || chr(160) end
                    else case when normalize(v, NFD) <> v then normalize(v, NFD)
                              when ascii(v) between 33 and 126 then chr(ascii(v) + 65248) || substr(v, 2)
                              else v || chr(8203) end
                end as c) x $$;

create or replace function pg_temp.hvariant_name(k int) returns text
language sql immutable parallel safe as
$$ select (array['case', 'other_case', 'spaces', 'nbsp', 'unicode_form'])[mod(k - 1, 5) + 1] $$;

-- hostile names: variant k of 6 (Tamil, Devanagari, accented NFC, one word, honorific only, accented NFD);
-- variant 6 decomposes the name variant 3 of the same cycle got, so the two differ only by Unicode form
create or replace function pg_temp.hname_variant(k int) returns text
language sql immutable parallel safe as
$$ select (array['tamil', 'devanagari', 'accented', 'one_word', 'honorific', 'accented_nfd'])[mod(k - 1, 6) + 1] $$;

create or replace function pg_temp.hname_kind(variant text) returns text
language sql immutable parallel safe as
$$ select case variant when 'one_word' then 'HOSTILE_ONE_WORD_NAME' when 'honorific' then 'HOSTILE_HONORIFIC_NAME'
                       else 'HOSTILE_SCRIPT_NAME' end $$;

create or replace function pg_temp.hname(s bigint, t text, k int, ta text[], dv text[], ac text[], ow text[],
                                         ho text[]) returns text
language sql stable parallel safe as
$$ select case pg_temp.hname_variant(k)
              when 'tamil' then pg_temp.pick(ta, s, 'hn.' || t, k)
              when 'devanagari' then pg_temp.pick(dv, s, 'hn.' || t, k)
              when 'accented' then normalize(pg_temp.pick(ac, s, 'hn.' || t, k), NFC)
              when 'accented_nfd' then normalize(pg_temp.pick(ac, s, 'hn.' || t, k - 3), NFD)
              when 'one_word' then pg_temp.pick(ow, s, 'hn.' || t, k)
              else pg_temp.pick(ho, s, 'hn.' || t, k) end $$;

-- 1 MiB (1,048,576 bytes) of text: ASCII for odd k, Tamil (3-byte characters) for even k
create or replace function pg_temp.hbig(s bigint, t text, k int) returns text
language sql immutable parallel safe as
$$ select case when mod(k, 2) = 1 then repeat(md5(s::text || ':big:' || t || ':' || k::text), 32768)
               else repeat('தமிழ் ', 65536) end $$;

-- one of the two extreme dates, as text castable to date, timestamp and timestamptz
create or replace function pg_temp.hextreme(k int) returns text
language sql immutable parallel safe as
$$ select case when mod(k, 2) = 1 then '0001-01-01 00:00:00+00' else '9999-12-31 00:00:00+00' end $$;
