"""The Dagster instance's storage: dagster-postgres, with its connections kept in a small pool.

dagster-postgres opens a new connection for every event it stores and every query it makes
(``NullPool``), unless the process is the webserver. On the demo scale a backfill run stores about
700 events: measured with cProfile on PostgreSQL 15, 2,500 connections took 13 s of a 54 s no-change
run. This storage asks each of its three parts for the webserver's pooling (their own public
``optimize_for_webserver``), so every process that loads the instance from ``dagster.yaml`` (the
run workers of runs launched from the UI or a schedule, the daemon, the CLI) reuses its
connections. No statement timeout is set (0): a run's queries are the run's business.
"""

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_SECONDS = 3600
MAX_OVERFLOW = 10  # connections beyond the one kept (the daemon's threads, concurrent steps)


class PooledPostgresStorage(DagsterPostgresStorage):
    """:class:`dagster_postgres.DagsterPostgresStorage` whose run, event log and schedule storages
    keep one connection each (plus up to :data:`MAX_OVERFLOW` while busy)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None,
                 token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for part in (self._run_storage, self._event_log_storage, self._schedule_storage):
            part.optimize_for_webserver(statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS,
                                        max_overflow=MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
