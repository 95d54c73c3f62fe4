"""Apply one canonical table's transform, set-based, in one transaction.

1. ``_todo``: the staged legacy keys to (re)process: changed since the table's applied sequence (all
   of them on a full refresh) plus keys still quarantined for this table (a later run may load them).
2. ``_cand``: the table's SQL file run over ``_todo`` (canonical columns + ``_legacy_table``,
   ``_legacy_key``, ``_disposition``, ``_reason``, ``_detail``).
3. Quarantine rows with a reason; resolve quarantine entries that no longer apply.
4. Upsert the loadable rows: insert new ones, update only rows that really differ (so a no-change
   run writes nothing and ``updated_at`` does not move), un-delete rows that came back.
5. Record every loaded or merged legacy key in ``ops.legacy_id_map``.
6. Soft-delete canonical rows whose legacy row disappeared (or no longer loads).
7. Remember the applied sequence and the run's figures.

A crash anywhere rolls the whole table back; the next run redoes it from the same ``_todo``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql

from hms_pipeline.engine import bulk
from hms_pipeline.engine.faults import fault_point
from hms_pipeline.engine.spec import TableSpec
from hms_pipeline.sqlrun import read_sql

PIPELINE_ACTOR = "hms-pipeline"
ANALYZE_AFTER = 1000  # rows written in one step beyond which the step refreshes planner statistics
AUDIT_COLUMNS = {"created_at", "updated_at", "created_by", "updated_by", "deleted_at"}


class TransformError(RuntimeError):
    pass


@dataclass
class ApplyStats:
    table: str
    candidates: int = 0
    written: int = 0
    unchanged: int = 0
    quarantined: int = 0
    merged: int = 0
    soft_deleted: int = 0
    todo: int = 0
    warnings: dict = field(default_factory=dict)  # warn code -> rows loaded with it this run
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _ident(name: str) -> sql.Identifier:
    schema, table = name.split(".")
    return sql.Identifier(schema, table)


def target_columns(conn: psycopg.Connection, name: str) -> tuple[list[str], str]:
    """(writable columns, primary key column) of a canonical table, from the catalog."""
    rows = conn.execute(
        """select a.attname, a.attgenerated <> '' from pg_attribute a
           where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
        (name,),
    ).fetchall()
    pk = conn.execute(
        """select a.attname from pg_index i join pg_attribute a
             on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
           where i.indrelid = %s::regclass and i.indisprimary""",
        (name,),
    ).fetchone()
    if pk is None:
        raise TransformError(f"{name} has no primary key")
    return [r[0] for r in rows if not r[1]], pk[0]


def stage_exists(conn: psycopg.Connection, legacy_table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"stg.{legacy_table}",)).fetchone()[0]


def snapshot_seq(conn: psycopg.Connection, run_id: str) -> int:
    row = conn.execute(
        """select snapshot_seq from etl.stage_runs
           order by (run_id = %s) desc, finished_at desc limit 1""",
        (run_id,),
    ).fetchone()
    if row is None:
        raise TransformError("no legacy snapshot has been staged yet: materialize etl/legacy_snapshot first")
    return row[0]


def something_written(conn, run_id: str) -> bool:
    """Did this run write anything yet (any canonical table, ref.codes included)? Quarantined rows
    are retried only then: with nothing new upstream, a retry would give the same verdict."""
    return conn.execute(
        "select exists (select 1 from etl.run_stats where run_id = %s and written + soft_deleted > 0)", (run_id,)
    ).fetchone()[0]


def _build_todo(conn, spec: TableSpec, since: int, upto: int, full: bool, retry_quarantined: bool = True) -> int:
    """Temp table ``_todo``: one statement (a UNION of every source's changed or, on a full run, all
    staged keys, plus the keys still quarantined for this table)."""
    parts: list[sql.Composable] = []
    params: list = []
    for src in spec.sources:
        if not stage_exists(conn, src.legacy_table):
            continue
        stg = sql.Identifier("stg", src.legacy_table)
        if full:
            parts.append(sql.SQL("select %s::text, _key from {}").format(stg))
            params.append(src.legacy_table)
        else:
            parts.append(sql.SQL("select %s::text, _key from {} where _change_seq > %s and _change_seq <= %s").format(stg))
            params += [src.legacy_table, since, upto]
        if retry_quarantined:
            parts.append(sql.SQL(
                """select legacy_table, split_part(legacy_key, '#', 1) from ops.quarantine
                   where target_table = %s and legacy_table = %s and resolved_at is null"""))
            params += [spec.name, src.legacy_table]
    if not parts:
        parts.append(sql.SQL("select null::text, null::text where false"))
    conn.execute(sql.SQL("create temp table _todo (legacy_table, key) on commit drop as {}").format(
        sql.SQL(" union ").join(parts)), params)
    conn.execute("analyze _todo")  # no index: the transforms hash it (UNION made the keys unique)
    return conn.execute("select count(*) from _todo").fetchone()[0]


def apply_table(conn: psycopg.Connection, spec: TableSpec, run_id: str, *, full: bool = False,
                params: dict | None = None) -> ApplyStats:
    started = time.monotonic()
    stats = ApplyStats(spec.name)
    target = _ident(spec.name)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (spec.name,))
        conn.execute("set local timezone = 'UTC'")
        # The migration writes history (expired batches included): bypass the application-only
        # insert rule explicitly; the trigger records every bypassed row in ops.audit_log.
        conn.execute("set local hms.migration_bypass = 'on'")
        upto = snapshot_seq(conn, run_id)
        row = conn.execute("select applied_seq from etl.apply_state where canonical_table = %s", (spec.name,)).fetchone()
        since = 0 if (full or row is None) else row[0]
        if spec.sources:
            retry = full or row is None or since < upto or something_written(conn, run_id)
            stats.todo = _build_todo(conn, spec, since, upto, full or row is None, retry_quarantined=retry)
        else:
            # Derived tables (vocabularies, settings) have no legacy rows of their own: recompute them
            # whole every run; the upsert still writes only what changed.
            conn.execute("create temp table _todo (legacy_table text, key text) on commit drop")
            stats.todo = 1

        # With no key of its own to process, a table still re-runs its transform when something
        # upstream was written this run: a child whose parent's mapping changed is re-derived.
        if stats.todo or (spec.deps and something_written(conn, run_id)):
            _apply_candidates(conn, spec, target, run_id, params or {}, stats)
            if not spec.merges:
                conn.execute("drop view _ok")  # a temp view outlives the transaction; _cand does not
            fault_point(spec.name)

        conn.execute(
            """insert into etl.apply_state (canonical_table, applied_seq, run_id) values (%s, %s, %s)
               on conflict (canonical_table) do update set applied_seq = excluded.applied_seq,
                   run_id = excluded.run_id, updated_at = now()""",
            (spec.name, upto, run_id),
        )
        stats.seconds = round(time.monotonic() - started, 3)
        conn.execute(
            """insert into etl.run_stats (run_id, canonical_table, candidates, written, unchanged,
                   quarantined, merged, soft_deleted, seconds)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (run_id, canonical_table) do update set candidates = excluded.candidates,
                   written = excluded.written, unchanged = excluded.unchanged,
                   quarantined = excluded.quarantined, merged = excluded.merged,
                   soft_deleted = excluded.soft_deleted, seconds = excluded.seconds, recorded_at = now()""",
            (run_id, spec.name, stats.candidates, stats.written, stats.unchanged, stats.quarantined,
             stats.merged, stats.soft_deleted, stats.seconds),
        )
    return stats


def _apply_candidates(conn, spec: TableSpec, target, run_id: str, params: dict, stats: ApplyStats) -> None:
    query = read_sql(spec.sql_path)
    bound = {"run_id": run_id, **spec.extra_params, **params}
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("create temp table _cand on commit drop as ") + sql.SQL(query), bound)
    except psycopg.Error as exc:
        raise TransformError(f"transform {spec.sql_path.name} for {spec.name} failed: {exc}") from exc
    conn.execute("analyze _cand")
    cand_cols = [d.name for d in conn.execute("select * from _cand limit 0").description]
    missing = {"_legacy_table", "_legacy_key", "_disposition", "_reason", "_detail"} - set(cand_cols)
    if missing:
        raise TransformError(f"transform for {spec.name} does not return {sorted(missing)}")
    columns, pk = target_columns(conn, spec.name)
    audited = "deleted_at" in columns  # principle 6 (all tables but ops.audit_log and ref.codes)
    data_cols = [c for c in columns if c in cand_cols and c not in AUDIT_COLUMNS - {"created_at"}]
    if pk not in data_cols:
        raise TransformError(f"transform for {spec.name} does not return its primary key {pk}")
    compare_cols = [c for c in data_cols if c not in (pk, "created_at")]
    ident = sql.Identifier
    p = {"t": spec.name, "run": run_id}

    # 3. quarantine (one entry per legacy key and reason), and resolve entries that no longer apply
    stats.quarantined = conn.execute(
        """insert into ops.quarantine (legacy_table, legacy_key, target_table, reason_code, detail, run_id,
                                       first_seen_at, last_seen_at)
           select distinct on (_legacy_table, _legacy_key, _reason)
                  _legacy_table, _legacy_key, %(t)s, _reason, _detail, %(run)s, now(), now()
           from _cand where _reason is not null
           order by _legacy_table, _legacy_key, _reason
           on conflict (legacy_table, legacy_key, target_table, reason_code) do update
           set detail = excluded.detail, run_id = excluded.run_id, last_seen_at = now(), resolved_at = null""",
        p,
    ).rowcount
    if stats.quarantined > ANALYZE_AFTER:
        conn.execute("analyze ops.quarantine")
    conn.execute(
        """update ops.quarantine q set resolved_at = now(), run_id = %(run)s
           from (
               select q2.legacy_table, q2.legacy_key, q2.reason_code
               from ops.quarantine q2
               join _todo t on t.legacy_table = q2.legacy_table and t.key = split_part(q2.legacy_key, '#', 1)
               left join _cand c on c._legacy_table = q2.legacy_table and c._legacy_key = q2.legacy_key
                                and c._reason = q2.reason_code
               where q2.target_table = %(t)s and q2.resolved_at is null and c._legacy_key is null
           ) as r
           where q.target_table = %(t)s and q.legacy_table = r.legacy_table and q.legacy_key = r.legacy_key
             and q.reason_code = r.reason_code""",
        p,
    )

    # Disposition: per canonical id the first LOADED row carries the data, the rest are MERGED. A
    # table whose transform emits each id once (spec.merges False) skips that sort: its rows keep
    # their disposition (two rows with one id would then fail the upsert, naming the table).
    if spec.merges:
        conn.execute(
            sql.SQL(
                """create temp table _ok on commit drop as
                   select c.*, case when row_number() over (
                              partition by c.{pk} order by c._disposition <> 'LOADED', c._legacy_table, c._legacy_key) = 1
                            and c._disposition = 'LOADED' then 'LOADED' else 'MERGED' end as _final
                   from _cand c where c._reason is null"""
            ).format(pk=ident(pk))
        )
        conn.execute("analyze _ok")
    else:
        conn.execute("create temp view _ok as select c.*, c._disposition as _final from _cand c where c._reason is null")
    loaded = conn.execute("select count(*) filter (where _final = 'LOADED'), count(*) filter (where _final = 'MERGED') from _ok").fetchone()
    stats.candidates, stats.merged = loaded
    # a row may carry several warnings (detail.warns) or one (detail.warn); each is counted
    stats.warnings = dict(conn.execute(
        """select w, count(*) from _ok,
                  jsonb_array_elements_text(case when jsonb_typeof(_detail -> 'warns') = 'array'
                                                 then _detail -> 'warns' else jsonb_build_array(_detail ->> 'warn') end) as w
           where _detail ? 'warn' or _detail ? 'warns'
           group by 1 order by 1""").fetchall())

    # Ids the processed legacy keys produced so far (LOADED): the stale candidates of step 6. Taken
    # before step 5 rewrites the map, so a key that now maps to another id (a merge, a regrouping)
    # does not leave its old row live. "Processed" = the keys of _todo (all keys of a derived table)
    # plus any key the transform re-emitted (e.g. a child whose parent mapping changed this run).
    mapped_before = conn.execute(
        "select exists (select 1 from ops.legacy_id_map where canonical_table = %s)", (spec.name,)).fetchone()[0]
    if not mapped_before:
        processed = None  # a first load: nothing was produced before, nothing can be stale
    elif spec.sources:
        conn.execute(
            """create temp table _processed on commit drop as
               select legacy_table, key from _todo
               union
               select _legacy_table, split_part(_legacy_key, '#', 1) from _cand"""
        )
        conn.execute("analyze _processed")
        processed = sql.SQL(
            "join _processed d on d.legacy_table = m.legacy_table and d.key = split_part(m.legacy_key, '#', 1)")
    else:
        processed = sql.SQL("")
    conn.execute(
        sql.SQL(
            """create temp table _stale on commit drop as
               select distinct m.canonical_id from ops.legacy_id_map m {processed}
               where m.canonical_table = %(t)s and m.disposition = 'LOADED' and {any}"""
        ).format(processed=processed or sql.SQL(""), any=sql.SQL("true" if processed is not None else "false")),
        p,
    )

    # 4. upsert
    cols_sql = sql.SQL(", ").join(ident(c) for c in data_cols)
    updates = sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in compare_cols)
    t_cmp = [sql.SQL("t.{}").format(ident(c)) for c in compare_cols]
    x_cmp = [sql.SQL("excluded.{}").format(ident(c)) for c in compare_cols]
    sets = [sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in compare_cols]
    if audited:
        t_cmp.append(sql.SQL("t.deleted_at"))
        x_cmp.append(sql.SQL("null::timestamptz"))
        sets += [sql.SQL("deleted_at = null"), sql.SQL("updated_by = excluded.updated_by")]
    insert_cols = sql.SQL(", ").join([cols_sql] + ([sql.SQL("created_by, updated_by")] if audited else []))
    insert_vals = sql.SQL(", ").join([cols_sql] + ([sql.SQL("%(actor)s, %(actor)s")] if audited else []))
    if sets:
        conflict = sql.SQL("do update set {} where ({}) is distinct from ({})").format(
            sql.SQL(", ").join(sets), sql.SQL(", ").join(t_cmp), sql.SQL(", ").join(x_cmp))
    else:
        conflict = sql.SQL("do nothing")
    # A bulk write (see engine/bulk.py) inserts in primary-key order, so the one index it keeps
    # grows at its right edge; into an empty table it needs no conflict handling at all (measured,
    # 1M vitals rows: 4.3 s random order, 6.4 s with ON CONFLICT, 2.1 s in key order).
    deferred = bulk.defer(conn, spec.name, keep_unique=True) if bulk.worth_it(conn, spec.name, stats.candidates) else None
    empty = deferred is not None and not conn.execute(
        sql.SQL("select exists (select 1 from {})").format(target)).fetchone()[0]
    upsert = sql.SQL(
        """insert into {target} as t ({insert_cols})
           select {insert_vals} from _ok where _final = 'LOADED' {order}
           {on_conflict}"""
    ).format(target=target, insert_cols=insert_cols, insert_vals=insert_vals,
             order=sql.SQL("order by {}").format(ident(pk)) if deferred is not None else sql.SQL(""),
             on_conflict=sql.SQL("") if empty else sql.SQL("on conflict ({pk}) {conflict}").format(
                 pk=ident(pk), conflict=conflict))
    try:
        stats.written = conn.execute(upsert, {"actor": PIPELINE_ACTOR}).rowcount
    except psycopg.Error as exc:
        raise TransformError(f"loading {spec.name} failed: {exc.diag.message_primary} "
                             f"({exc.diag.constraint_name or exc.sqlstate})") from exc
    if deferred is not None:
        bulk.restore(conn, deferred)
    stats.unchanged = stats.candidates - stats.written
    if stats.written > ANALYZE_AFTER:
        conn.execute(sql.SQL("analyze {}").format(target))  # later transforms join it

    # 5. provenance (this table's partition of the map)
    partition = conn.execute("select etl.id_map_partition(%s)::text", (spec.name,)).fetchone()[0]
    if bulk.worth_it(conn, partition, stats.candidates + stats.merged):
        mapped = _map_bulk(conn, spec.name, partition, pk, p)
    else:
        mapped = conn.execute(
            sql.SQL(
                """insert into ops.legacy_id_map (legacy_table, legacy_key, canonical_table, canonical_id,
                                                  disposition, run_id, mapped_at)
                   select _legacy_table, _legacy_key, %(t)s, {pk}, _final, %(run)s, now() from _ok
                   on conflict (legacy_table, legacy_key, canonical_table) do update
                   set canonical_id = excluded.canonical_id, disposition = excluded.disposition,
                       run_id = excluded.run_id, mapped_at = now()
                   where (ops.legacy_id_map.canonical_id, ops.legacy_id_map.disposition)
                         is distinct from (excluded.canonical_id, excluded.disposition)"""
            ).format(pk=ident(pk)),
            p,
        ).rowcount

    if mapped > ANALYZE_AFTER:
        # fresh statistics, or the planner estimates one row and picks nested loops (minutes at 100k)
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(partition)))

    # 6. soft-delete what no longer loads: ids that processed keys produced before (captured in
    # _stale before step 5) and that no row of this run produces as LOADED any more.
    if not audited:
        return
    conn.execute(sql.SQL("delete from _stale s using _ok o where o.{pk} = s.canonical_id and o._final = 'LOADED'")
                 .format(pk=ident(pk)))
    stats.soft_deleted = conn.execute(
        sql.SQL(
            """update {target} t set deleted_at = now(), updated_by = %(actor)s
               from _stale s where t.{pk} = s.canonical_id and t.deleted_at is null"""
        ).format(target=target, pk=ident(pk)),
        {"actor": PIPELINE_ACTOR},
    ).rowcount


def _map_bulk(conn, table: str, partition: str, pk: str, p: dict) -> int:
    """Write a large share of one table's map rows (see :mod:`hms_pipeline.engine.bulk`): detach its
    partition, drop the partition's indexes, replace the rows whose mapping changed and add the new
    ones with two hash joins, rebuild the indexes and attach the partition again."""
    part = sql.SQL(partition)  # regclass text from etl.id_map_partition()
    conn.execute(sql.SQL("alter table ops.legacy_id_map detach partition {}").format(part))
    deferred = bulk.defer(conn, partition, keep_unique=False)
    conn.execute(
        sql.SQL(
            """delete from {part} m using _ok o
               where m.legacy_table = o._legacy_table and m.legacy_key = o._legacy_key
                 and (m.canonical_id, m.disposition) is distinct from (o.{pk}, o._final)"""
        ).format(part=part, pk=sql.Identifier(pk))
    )
    mapped = conn.execute(
        sql.SQL(
            """insert into {part} (legacy_table, legacy_key, canonical_table, canonical_id, disposition, run_id, mapped_at)
               select o._legacy_table, o._legacy_key, %(t)s, o.{pk}, o._final, %(run)s, now() from _ok o
               where not exists (select 1 from {part} m
                                 where m.legacy_table = o._legacy_table and m.legacy_key = o._legacy_key)"""
        ).format(part=part, pk=sql.Identifier(pk)),
        p,
    ).rowcount
    bulk.restore(conn, deferred)
    # DDL takes no bound parameters: the bound value is a literal quoted by the driver
    conn.execute(sql.SQL("alter table ops.legacy_id_map attach partition {} for values in ({})")
                 .format(part, sql.Literal(table)))
    return mapped
