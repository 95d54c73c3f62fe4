"""Dagster resources: the canonical (target) and legacy (source) Postgres databases.

Settings come from the environment / ``.env`` when the resource is used, never at import time.
"""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg
import psycopg

from hms_pipeline import db
from hms_pipeline.settings import Settings, load_settings


class HmsDatabaseResource(dg.ConfigurableResource):
    """Connections to the canonical database and the legacy source.

    Empty fields fall back to the settings (``HMS_DATABASE_URL``, ``HMS_LEGACY_DATABASE_URL``), and
    with no canonical URL at all to the embedded PostgreSQL.
    """

    database_url: str = ""
    legacy_database_url: str = ""

    def settings(self) -> Settings:
        s = load_settings()
        overrides = {}
        if self.database_url:
            overrides["database_url"] = self.database_url
        if self.legacy_database_url:
            overrides["legacy_database_url"] = self.legacy_database_url
        if overrides:
            from dataclasses import replace

            s = replace(s, **overrides)
        return s

    def canonical_url(self) -> str:
        return db.canonical_url(self.settings())

    def legacy_url(self) -> str:
        return db.legacy_url(self.settings())

    @contextmanager
    def connect(self, *, autocommit: bool = False):
        with db.connect(self.canonical_url(), autocommit=autocommit) as conn:
            # temp_buffers (local buffers of the temp tables the engine stages candidates in) can only
            # be set before a session's first temp table: 4 x work_mem
            work_mem = self.settings().work_mem
            amount, unit = int(work_mem[:-2]), work_mem[-2:]
            conn.execute("select set_config('work_mem', %s, false), set_config('temp_buffers', %s, false)",
                         (work_mem, f"{4 * amount}{unit}"))
            if not autocommit:
                conn.commit()
            yield conn

    @contextmanager
    def connect_legacy(self, *, autocommit: bool = False):
        with db.connect(self.legacy_url(), autocommit=autocommit) as conn:
            yield conn


def hms_db_resource() -> HmsDatabaseResource:
    """The default resource: URLs are read from the settings when first used, not at import."""
    return HmsDatabaseResource()


class BackfillOptions(dg.ConfigurableResource):
    """Run-level options of the backfill phase (set per run through run config or the CLI)."""

    full_refresh: bool = False
    # legacy tables whose shrinking (or emptying, or absence) is real: the deletion guard lets it through
    accept_deletions: list[str] = []
