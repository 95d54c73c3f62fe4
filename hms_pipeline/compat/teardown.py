"""Phase 6 (issue #14): the teardown of the compatibility layer, after the cool-off. No Dagster here.

``plan`` says what a teardown would do and why it would refuse: before ``HMS_COOL_OFF_DAYS`` have
passed since the latest ``cutover compat``, while the compatibility views are not on, while a gate or
monitor is red (the caller passes the red ones), or without a verified backup of the archived legacy
tables whose checksums still equal the archive's (the write path writes every application write to
the archive too, so an older backup misses rows).

``backup`` writes the archive to a folder: a ``pg_dump --format=custom --schema=<archive>`` file when
a ``pg_dump`` binary is on PATH whose major version is at least the server's, else one CSV per table
(``COPY ... TO STDOUT``). Either way ``manifest.json`` (and ``ddl.sql``, for a person) holds what
recreates each table: columns with their types, defaults and generation expressions, and its
constraints (foreign keys added after the data), plus each table's row count and checksum when taken.

``verify`` always restores into the scratch schema ``legacy_backup_check`` of the same database
(``CREATE SCHEMA`` only: no new database, which a hosted server such as Supabase does not allow):
the tables from the manifest, the rows from the CSVs or, for a dump, from ``pg_restore --data-only
--table=<t> -f -`` (its COPY block is fed to ``COPY ... FROM STDIN``, so the dump itself is read back,
not the database), then the foreign keys; every table's count and checksum must equal the
archive's. The scratch schema is dropped afterwards; the result goes to ``compat.backups``.

A checksum is ``md5`` of the table's row texts (``t::text``) in sorted order: built-in, no
extension, independent of physical order.

``teardown`` drops the compatibility views (and the legacy views re-created over them), then the
archived tables and the archive schema, in the caller's transaction, after locking the archived
tables and re-checking their checksums against the verified backup; it records a ``teardown`` event
in ``compat.cutover_events``. Then ``compat_is_on`` is false and the ``backfill_deltas`` schedule
keeps skipping (:func:`hms_pipeline.compat.switch.cutover_done`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hms_pipeline.compat import switch
from hms_pipeline.legacy.schema import check_schema_name

SCRATCH_SCHEMA = "legacy_backup_check"


class TeardownRefused(RuntimeError):
    """The teardown may not run; the message names every reason."""


@dataclass
class Plan:
    steps: list[str]
    refusals: list[str]
    backup_id: int | None = None  # a verified backup matching the archive now
    backup_note: str = ""  # why there is none (the CLI takes one)
    state: dict | None = None
    tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refusals


# --- checksums --------------------------------------------------------------------------------------


def table_checksum(conn: psycopg.Connection, schema: str, table: str) -> tuple[int, str]:
    """(rows, md5 of the sorted row texts) of ``schema.table``."""
    count, digest = conn.execute(sql.SQL(
        "select count(*), coalesce(md5(string_agg(r, E'\\n' order by r collate \"C\")), md5('')) "
        "from (select t::text as r from {} as t) as x").format(sql.Identifier(schema, table))).fetchone()
    return int(count), digest


def archive_tables(conn: psycopg.Connection, archive: str) -> list[str]:
    """Every base table of the archive schema (the legacy tables the switch moved there)."""
    return [r[0] for r in conn.execute(
        """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relkind in ('r', 'p') order by 1""", (archive,)).fetchall()]


def archive_checksums(conn: psycopg.Connection, archive: str) -> dict[str, dict]:
    return {t: dict(zip(("rows", "md5"), table_checksum(conn, archive, t))) for t in archive_tables(conn, archive)}


# --- plan -------------------------------------------------------------------------------------------


def latest_compat_at(conn: psycopg.Connection) -> dt.datetime | None:
    row = conn.execute("select max(at) from compat.cutover_events where action = 'compat'").fetchone()
    return row[0] if row else None


def matching_backup(conn: psycopg.Connection, archive: str, checksums: dict | None = None) -> tuple[int | None, str]:
    """The newest verified backup of ``archive`` whose checksums equal the archive's now, or None
    and why."""
    row = conn.execute(
        """select backup_id, checksums from compat.backups
           where archive_schema = %s and verified_at is not null order by backup_id desc limit 1""",
        (archive,)).fetchone()
    if row is None:
        return None, f"no verified backup of {archive} (compat.backups)"
    checksums = archive_checksums(conn, archive) if checksums is None else checksums
    if row[1] != checksums:
        changed = sorted(t for t in set(row[1]) | set(checksums) if row[1].get(t) != checksums.get(t))
        return None, (f"the latest verified backup (#{row[0]}) no longer matches {archive}: {len(changed)} table(s) "
                      f"changed since it was taken (e.g. {changed[0]})")
    return row[0], ""


def plan(conn: psycopg.Connection, settings, *, red: list[str] | None = None,
         now: dt.datetime | None = None) -> Plan:
    """The steps of a teardown and every reason it would refuse now (``red``: the gates and monitors
    the caller found red, by name)."""
    s = switch.state(conn) if conn.execute("select to_regclass('compat.cutover_events') is not null").fetchone()[0] else None
    refusals: list[str] = []
    if s is None or s["action"] != "compat":
        where = "never switched" if s is None else f"latest action {s['action']!r} at {s['at']:%Y-%m-%d %H:%M}"
        refusals.append(f"the compatibility views are not on ({where}): teardown follows cutover compat")
        return Plan([], refusals, state=s)
    since = latest_compat_at(conn)
    now = now or conn.execute("select now()").fetchone()[0]
    days = settings.cool_off_days
    ends = since + dt.timedelta(days=days)
    if now < ends:
        refusals.append(f"the cool-off of {days} day(s) (HMS_COOL_OFF_DAYS) since cutover compat at "
                        f"{since:%Y-%m-%d %H:%M} ends at {ends:%Y-%m-%d %H:%M}")
    for r in red or []:
        refusals.append(f"red: {r}")
    archive, schema = s["archive_schema"], s["legacy_schema"]
    tables = archive_tables(conn, archive)
    backup_id, note = matching_backup(conn, archive)
    views = list(s["views"]) + sorted((s["legacy_views"] or {}).keys())
    steps = [
        f"back up the {len(tables)} archived legacy tables of {archive} (pg_dump when the binary fits the server, "
        "else COPY to CSV) and verify the backup by restoring it into the scratch schema "
        f"{SCRATCH_SCHEMA} (row counts and checksums)" if backup_id is None else
        f"use verified backup #{backup_id} (its checksums equal {archive} now)",
        f"lock the archived tables and re-check their checksums against the backup",
        f"drop {len(views)} compatibility/legacy view(s) in {schema}",
        f"drop {len(tables)} archived legacy table(s) and the schema {archive}",
        "record a 'teardown' event (compat.cutover_events): the backfill_deltas schedule keeps skipping",
    ]
    return Plan(steps, refusals, backup_id, note, s, tables)


# --- backup -----------------------------------------------------------------------------------------


def _major(text: str) -> int | None:
    """The major version of ``pg_dump --version`` output ("pg_dump (PostgreSQL) 15.20 (Debian ...)")."""
    m = re.search(r"\)\s*(\d+)", text) or re.search(r"(\d+)", text)
    return int(m.group(1)) if m else None


def pg_dump_usable(conn: psycopg.Connection) -> tuple[str | None, str]:
    """The pg_dump binary to use (None when none fits) and why."""
    binary = shutil.which("pg_dump")
    if not binary or not shutil.which("pg_restore"):
        return None, "no pg_dump/pg_restore on PATH"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    client = _major(out)
    server = conn.info.server_version // 10000
    if client is None or client < server:
        return None, f"pg_dump {client} is older than the server ({server})"
    return binary, f"pg_dump {client} (server {server})"


def table_ddl(conn: psycopg.Connection, archive: str, table: str) -> dict:
    """What recreates ``archive.table`` in another schema: columns (type, not null, default,
    generation expression) and constraints (definitions printed with the archive on the search path,
    so they name no schema)."""
    with conn.transaction():
        conn.execute(sql.SQL("set local search_path to {}, pg_catalog").format(sql.Identifier(archive)))
        cols = conn.execute(
            """select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> ''
               from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
               where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
            (f"{archive}.{table}",)).fetchall()
        cons = conn.execute(
            """select conname, contype, pg_get_constraintdef(oid) from pg_constraint
               where conrelid = %s::regclass and contype in ('p', 'u', 'c', 'f') order by contype <> 'p', conname""",
            (f"{archive}.{table}",)).fetchall()
    return {"columns": [{"name": n, "type": t, "not_null": nn, "default": None if g else d,
                         "generated": d if g else None} for n, t, nn, d, g in cols],
            "constraints": [{"name": n, "type": ty, "definition": df} for n, ty, df in cons]}


def _create_sql(schema: str, table: str, ddl: dict) -> sql.Composed:
    cols = []
    for c in ddl["columns"]:
        parts = [sql.Identifier(c["name"]), sql.SQL(c["type"])]  # format_type() of the catalog
        if c["generated"]:
            parts.append(sql.SQL("generated always as ({}) stored").format(sql.SQL(c["generated"])))
        elif c["default"]:
            parts.append(sql.SQL("default {}").format(sql.SQL(c["default"])))
        if c["not_null"]:
            parts.append(sql.SQL("not null"))
        cols.append(sql.SQL(" ").join(parts))
    for k in ddl["constraints"]:
        if k["type"] != "f":
            cols.append(sql.SQL("constraint {} {}").format(sql.Identifier(k["name"]), sql.SQL(k["definition"])))
    return sql.SQL("create table {} ({})").format(sql.Identifier(schema, table), sql.SQL(", ").join(cols))


def _fk_sql(schema: str, table: str, ddl: dict) -> list[sql.Composed]:
    return [sql.SQL("alter table {} add constraint {} {}").format(
        sql.Identifier(schema, table), sql.Identifier(k["name"]), sql.SQL(k["definition"]))
        for k in ddl["constraints"] if k["type"] == "f"]


def backup(conn: psycopg.Connection, conn_url: str, archive: str, directory: Path | str, *,
           method: str = "auto") -> dict:
    """Back up every table of ``archive`` into a new folder under ``directory``; record it in
    ``compat.backups`` (not yet verified). Returns the manifest (with ``backup_id``). ``method``:
    ``auto`` (pg_dump when usable, else COPY) or ``copy``."""
    check_schema_name(archive)
    tables = archive_tables(conn, archive)
    if not tables:
        raise TeardownRefused(f"backup: the archive schema {archive} holds no table")
    stamp = conn.execute("select to_char(clock_timestamp() at time zone 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')").fetchone()[0]
    folder = Path(directory).expanduser().resolve() / f"{archive}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    binary, why = pg_dump_usable(conn) if method == "auto" else (None, "COPY requested")
    with conn.transaction():
        # one consistent picture: no write reaches the archive while it is read (reads go on)
        conn.execute(sql.SQL("lock table {} in share mode").format(
            sql.SQL(", ").join(sql.Identifier(archive, t) for t in tables)))
        ddl = {t: table_ddl(conn, archive, t) for t in tables}
        checksums = archive_checksums(conn, archive)
        if binary:
            fmt = "pg_dump"
            # pg_dump takes its own snapshot: our SHARE locks keep the archive unchanged until commit
            # the password goes through the environment, not the command line (visible to ps)
            params = conninfo_to_dict(conn_url)
            env = {**os.environ, **({"PGPASSWORD": str(params.pop("password"))} if params.get("password") else {})}
            done = subprocess.run([binary, "--format=custom", f"--schema={archive}", "--no-owner", "--no-privileges",
                                   "--file", str(folder / "archive.dump"), f"--dbname={make_conninfo(**params)}"],
                                  capture_output=True, text=True, check=False, env=env)
            if done.returncode != 0:
                raise TeardownRefused(f"backup: pg_dump failed (exit {done.returncode}): "
                                      f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
        else:
            fmt = "copy"
            for t in tables:
                cols = sql.SQL(", ").join(sql.Identifier(c["name"]) for c in ddl[t]["columns"] if not c["generated"])
                with open(folder / f"{t}.csv", "wb") as fh, conn.cursor().copy(sql.SQL(
                        "copy (select {} from {}) to stdout with (format csv, header true)").format(
                        cols, sql.Identifier(archive, t))) as cp:
                    for chunk in cp:
                        fh.write(chunk)
        manifest = {"archive_schema": archive, "format": fmt, "tool": why if binary else f"COPY ({why})",
                    "server_version": conn.info.server_version, "tables": ddl, "checksums": checksums}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        (folder / "ddl.sql").write_text(
            "-- the archived legacy tables, to recreate in a schema of your choice (FKs after the data)\n"
            + "".join(_create_sql(archive, t, ddl[t]).as_string(conn) + ";\n" for t in tables)
            + "".join(f.as_string(conn) + ";\n" for t in tables for f in _fk_sql(archive, t, ddl[t])),
            encoding="utf-8")
        backup_id = conn.execute(
            """insert into compat.backups (path, format, archive_schema, tables, checksums)
               values (%s, %s, %s, %s, %s) returning backup_id""",
            (str(folder), fmt, archive, tables, json.dumps(checksums))).fetchone()[0]
    manifest["backup_id"] = backup_id
    manifest["path"] = str(folder)
    return manifest


# --- verify -----------------------------------------------------------------------------------------


def _dump_rows(folder: Path, table: str) -> tuple[list[str], bytes]:
    """The columns and COPY text rows of ``table`` in the dump, read back by pg_restore."""
    out = subprocess.run([shutil.which("pg_restore") or "pg_restore", "--data-only", f"--table={table}", "-f", "-",
                          str(folder / "archive.dump")], capture_output=True, check=False)
    if out.returncode != 0:
        raise TeardownRefused(f"verify: pg_restore could not read {table} from the dump (exit {out.returncode})")
    text = out.stdout
    m = re.search(rb"^COPY [^\n(]+\(([^)]*)\) FROM stdin;\n", text, re.M)
    if not m:
        return [], b""
    end = text.find(b"\n\\.\n", m.end() - 1)
    cols = [c.strip().strip('"') for c in m.group(1).decode().split(",")]
    body = text[m.end():end + 1] if end >= 0 else b""
    return cols, body


def restore(conn: psycopg.Connection, folder: Path | str, schema: str, *, strict: bool = True,
            return_failures: bool = False):
    """Restore the backup in ``folder`` into ``schema`` (created; must not exist) in the caller's
    transaction; returns the tables (and, with ``return_failures``, the foreign keys that did not hold;
    ``strict``: raise :class:`TeardownRefused` naming them instead)."""
    check_schema_name(schema)
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    tables = sorted(manifest["tables"])
    for t in tables:
        conn.execute(_create_sql(schema, t, manifest["tables"][t]))
    conn.execute(sql.SQL("set local search_path to {}, pg_catalog").format(sql.Identifier(schema)))
    for t in tables:
        ddl = manifest["tables"][t]
        if manifest["format"] == "pg_dump":
            cols, body = _dump_rows(folder, t)
            if not cols:
                continue
            with conn.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(
                    sql.Identifier(schema, t), sql.SQL(", ").join(sql.Identifier(c) for c in cols))) as cp:
                cp.write(body)
        else:
            cols = sql.SQL(", ").join(sql.Identifier(c["name"]) for c in ddl["columns"] if not c["generated"])
            with open(folder / f"{t}.csv", "rb") as fh, conn.cursor().copy(sql.SQL(
                    "copy {} ({}) from stdin with (format csv, header true)").format(
                    sql.Identifier(schema, t), cols)) as cp:
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
    failed = []
    for t in tables:
        for k, fk in zip([k for k in manifest["tables"][t]["constraints"] if k["type"] == "f"],
                         _fk_sql(schema, t, manifest["tables"][t])):
            try:
                with conn.transaction():
                    conn.execute(fk)
            except psycopg.errors.IntegrityError:
                failed.append(f"{t} (foreign key {k['name']})")
    if failed and strict:
        raise TeardownRefused(f"restore: {len(failed)} foreign key(s) do not hold on the restored rows: "
                              + ", ".join(failed[:5]))
    return tables if not return_failures else (tables, failed)


def verify(conn: psycopg.Connection, backup_id: int) -> dict:
    """Restore backup ``backup_id`` into ``legacy_backup_check``, compare every table's count and
    checksum with the ones taken with the backup (which equal the archive's then), drop the scratch
    schema, and record the outcome. Returns ``{ok, tables, mismatches}``."""
    row = conn.execute("select path, checksums from compat.backups where backup_id = %s", (backup_id,)).fetchone()
    if row is None:
        raise TeardownRefused(f"verify: no backup #{backup_id}")
    path, expected = row
    try:
        with conn.transaction(force_rollback=True):  # the scratch schema never outlives the check
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCRATCH_SCHEMA)))
            tables, fk_failures = restore(conn, path, SCRATCH_SCHEMA, strict=False, return_failures=True)
            got = {t: dict(zip(("rows", "md5"), table_checksum(conn, SCRATCH_SCHEMA, t))) for t in tables}
        mismatches = sorted(t for t in set(expected) | set(got) if expected.get(t) != got.get(t)) + fk_failures
    except (psycopg.Error, OSError, ValueError, TeardownRefused) as exc:  # unreadable files, bad rows
        state = getattr(exc, "sqlstate", None)
        got, mismatches = {}, [f"restore failed ({type(exc).__name__}{', SQLSTATE ' + state if state else ''})"]
    result = {"ok": not mismatches, "tables": len(got), "rows": sum(v["rows"] for v in got.values()),
              "mismatches": mismatches, "restored_into": SCRATCH_SCHEMA}
    with conn.transaction():
        conn.execute(
            "update compat.backups set verified_at = case when %s then now() end, verification = %s where backup_id = %s",
            (result["ok"], json.dumps(result), backup_id))
    return result


# --- teardown ---------------------------------------------------------------------------------------


def _drop_views(conn: psycopg.Connection, schema: str, views: list[str]) -> None:
    """Drop ``views`` (views over views: in dependency order, by retrying; never cascade)."""
    pending = list(dict.fromkeys(views))
    for _ in range(len(pending) + 1):
        for v in list(pending):
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("drop view if exists {}").format(sql.Identifier(schema, v)))
                pending.remove(v)
            except psycopg.errors.DependentObjectsStillExist:
                continue
    if pending:
        raise TeardownRefused(f"cutover teardown: view(s) {', '.join(pending)} in {schema} are still used by other "
                              "objects; nothing was dropped")


def teardown(conn: psycopg.Connection, settings, *, red: list[str] | None = None) -> dict:
    """Drop the compatibility views, the archived tables and the archive schema, in the caller's
    transaction, once :func:`plan` has no refusal and a verified backup matches the archive (checked
    again under an exclusive lock). Raises :class:`TeardownRefused` naming every reason."""
    p = plan(conn, settings, red=red)
    refusals = list(p.refusals)
    if p.state and p.state["action"] == "compat" and p.backup_id is None:
        refusals.append(p.backup_note + ": teardown needs a verified backup (cutover teardown takes one)")
    if refusals:
        raise TeardownRefused("cutover teardown refused: " + "; ".join(refusals))
    s = p.state
    schema, archive = s["legacy_schema"], s["archive_schema"]
    tables = archive_tables(conn, archive)
    if tables:
        conn.execute(sql.SQL("lock table {} in access exclusive mode").format(
            sql.SQL(", ").join(sql.Identifier(archive, t) for t in tables)))
    backup_id, note = matching_backup(conn, archive)
    if backup_id is None:
        raise TeardownRefused(f"cutover teardown refused: {note}")
    legacy_views = sorted((s["legacy_views"] or {}).keys())
    _drop_views(conn, schema, legacy_views + list(s["views"]))
    if tables:  # one statement: the archived tables' foreign keys point at each other
        conn.execute(sql.SQL("drop table {}").format(sql.SQL(", ").join(sql.Identifier(archive, t) for t in tables)))
    # no cascade: an object the switch did not put there (a user's view over the archive, ...) makes this
    # fail, and the caller's transaction rolls everything back
    conn.execute(sql.SQL("drop schema if exists {}").format(sql.Identifier(archive)))
    summary = {"backup_id": backup_id, "dropped_views": list(s["views"]), "dropped_legacy_views": legacy_views,
               "dropped_tables": tables, "cool_off_days": settings.cool_off_days}
    conn.execute(
        """insert into compat.cutover_events (action, legacy_schema, archive_schema, tables, views, legacy_views, lock_ms, summary)
           values ('teardown', %s, %s, %s, '{}', '{}'::jsonb, 0, %s)""",
        (schema, archive, tables, json.dumps(summary)))
    return summary
