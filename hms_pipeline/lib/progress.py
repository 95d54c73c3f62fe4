"""Progress of a phase run on the terminal (issue #16): one line per finished step, with how many of
the run's steps are done, the step's time and the elapsed time. It reads the run's own event log
(the same events the UI shows) from a background thread while the run executes in-process; on a
terminal only (or ``HMS_PROGRESS=1``), never in logs or pipes. A failure here never touches the run."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO

import dagster as dg

POLL_SECONDS = 1.0


def wanted(out: IO[str] = sys.stderr) -> bool:
    flag = os.environ.get("HMS_PROGRESS")
    if flag is not None:
        return flag == "1"
    return out.isatty()


class Progress:
    """``with Progress(instance, run_id, total_steps):`` prints ``[k/N] step 1.2s (elapsed 34s)``."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, total: int, out: IO[str] = sys.stderr):
        self.instance, self.run_id, self.total, self.out = instance, run_id, total, out
        self._stop = threading.Event()
        self._seen: set[int] = set()
        self._started = time.monotonic()
        self._step_started: dict[str, float] = {}
        self._done: set[str] = set()
        self._cursor: str | None = None
        self._thread = threading.Thread(target=self._loop, name="hms-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        for _ in range(50):  # the last steps (a page at a time)
            before = len(self._seen)
            self._poll()
            if len(self._seen) == before:
                break
        return False

    def _loop(self):
        while not self._stop.wait(POLL_SECONDS):
            self._poll()

    def _poll(self):
        try:
            page = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, limit=1000)
        except Exception:  # noqa: BLE001  (the run has not started yet, or the storage is busy)
            return
        self._cursor = page.cursor or self._cursor
        for record in page.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if record.storage_id in self._seen or event is None:
                continue
            self._seen.add(record.storage_id)
            kind = event.event_type_value
            if kind == "STEP_START":
                self._step_started[event.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                self._done.add(event.step_key)
                done = len(self._done)
                took = entry.timestamp - self._step_started.get(event.step_key, entry.timestamp)
                label = "" if kind == "STEP_SUCCESS" else "  FAILED"
                print(f"[{done}/{self.total}] {event.step_key} {took:.1f}s{label} "
                      f"(elapsed {time.monotonic() - self._started:.0f}s)", file=self.out, flush=True)

