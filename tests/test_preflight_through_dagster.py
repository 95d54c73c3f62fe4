"""A unique violation and a NOT NULL violation forced past a transform: the engine's pre-flight
quarantines them with the constraint's name, the step succeeds, and no value of the rows appears in
the captured logs, the Dagster event log or ops.quarantine."""

from __future__ import annotations

import logging

import dagster as dg
import psycopg

from backfill_helpers import prepare
from hms_pipeline.defs.etl.assets import legacy_snapshot
from hms_pipeline.engine.spec import Source, TableSpec
from hms_pipeline.lib.factory import canonical_table_asset
from hms_pipeline.paths import PROJECT_ROOT
from hms_pipeline.resources import BackfillOptions, HmsDatabaseResource

PROBE = "phi.leak.probe@example.org"


def test_violations_are_quarantined_by_name_and_leak_nothing(fresh_db, monkeypatch, caplog):
    prepare(fresh_db)
    monkeypatch.setenv("HMS_DATABASE_URL", fresh_db)
    monkeypatch.delenv("HMS_LEGACY_DATABASE_URL", raising=False)
    spec = TableSpec("core", "users", sources=(Source("users"),),
                     transform_path=PROJECT_ROOT / "tests" / "sql" / "users_with_violations.sql")
    instance = dg.DagsterInstance.ephemeral()
    with caplog.at_level(logging.DEBUG):
        result = dg.materialize(
            [legacy_snapshot, canonical_table_asset(spec)],
            instance=instance, raise_on_error=False,
            resources={"hms_db": HmsDatabaseResource(), "backfill_options": BackfillOptions()},
        )
    assert result.success  # no database error from the data reaches the user as a failed step

    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            """select reason_code, detail ->> 'constraint', detail::text from ops.quarantine
               where target_table = 'core.users' and resolved_at is null order by 1""").fetchall()
        loaded = conn.execute("select count(*) from core.users where email = %s", (PROBE,)).fetchone()[0]
    reasons = {(r[0], r[1]) for r in rows}
    assert ("DUPLICATE_KEY", "users_email_key") in reasons
    assert any(reason == "NULL_VIOLATION" and "email" in (name or "") for reason, name in reasons)
    assert loaded == 1  # the survivor of the two logins sharing the e-mail loads
    assert not any(PROBE in r[2] for r in rows)

    events = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert "users_email_key" in events or "DUPLICATE_KEY" in events  # the figures are there ...
    assert PROBE not in events  # ... the value is not
    assert PROBE not in caplog.text
    for event in result.get_asset_materialization_events():
        assert PROBE not in str(event.step_materialization_data.materialization.metadata)
