"""Crash-safety testing: ``HMS_FAULT_KILL_AFTER=<point>`` kills this process with SIGKILL when the
engine reaches that point (what a killed run looks like to the database). Points: ``<schema.table>``
after a table's writes, before its commit; ``<relation>:bulk`` inside a bulk write, after the
relation's indexes and foreign keys were dropped and before they are rebuilt."""

from __future__ import annotations

import os
import signal


def fault_point(point: str) -> None:
    if os.environ.get("HMS_FAULT_KILL_AFTER") == point:
        os.kill(os.getpid(), signal.SIGKILL)
