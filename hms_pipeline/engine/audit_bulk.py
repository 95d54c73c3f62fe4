"""The migration's own writes in the audit log: once per table per run, not once per row.

The audit triggers of sql/ddl/099_audit.sql log every write to a canonical table, except while
``hms.audit_bulk`` is set (their WHEN clause: no function call per row). The engine writes each
table in one transaction (:func:`hms_pipeline.engine.transform.apply_table`,
:func:`hms_pipeline.engine.scripted.apply_script`): :func:`mute_rows` sets the setting for that
transaction only (``set_config(..., true)``), and :func:`record` writes one ``MIGRATION_BULK`` row
when the table wrote rows (counts only, never a value: ``ops.legacy_id_map`` already records each
legacy row the run loaded) and clears the setting, so a caller's later writes in an enclosing
transaction are audited again. A run that wrote nothing records nothing.
"""

from __future__ import annotations

import json

import psycopg

from hms_pipeline.engine.steps import PIPELINE_ACTOR

BULK_ACTION = "MIGRATION_BULK"
SETTING = "hms.audit_bulk"

_RECORD = """
insert into ops.audit_log (action, table_name, pk, after)
select %(action)s, %(table)s, jsonb_build_object('run_id', %(run_id)s::text), %(after)s::jsonb
where not exists (select 1 from ops.audit_log
                  where table_name = %(table)s and pk = jsonb_build_object('run_id', %(run_id)s::text)
                    and action = %(action)s)
"""


def mute_rows(conn: psycopg.Connection, run_id: str) -> None:
    """The rest of this transaction is the migration's bulk write: no audit row per row."""
    conn.execute("select set_config(%s, %s, true)", (SETTING, run_id))


def record(conn: psycopg.Connection, table: str, run_id: str, stats) -> None:
    """One ``MIGRATION_BULK`` row for ``table`` in this run if it wrote rows (``stats``: an
    :class:`~hms_pipeline.engine.transform.ApplyStats`); then row audit is back on."""
    if stats.written + stats.soft_deleted > 0:
        after = {"run_id": run_id, "written": stats.written, "soft_deleted": stats.soft_deleted,
                 "quarantined": stats.quarantined, "merged": stats.merged, "unchanged": stats.unchanged,
                 "candidates": stats.candidates, "actor": PIPELINE_ACTOR}
        conn.execute(_RECORD, {"action": BULK_ACTION, "table": table, "run_id": run_id, "after": json.dumps(after)})
    conn.execute("select set_config(%s, '', true)", (SETTING,))
