"""GX imported in the background, and the one rule that makes it safe: wait before importing it.

Importing GX and building its context take about 5 s of CPU. A backfill that will run suites starts
that work in a thread (:func:`start`) while its transforms, which mostly wait on Postgres, go on. GX
has circular imports, and Python only makes those safe within one thread: a second thread importing
a GX module while the first is half way through gets ``ImportError: partially initialized module``.
So every place in this package that imports GX calls :func:`ready` first, which waits for the
background thread when one is still running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start(work: Callable[[], object]) -> threading.Thread:
    """Run ``work`` (which imports GX) in a daemon thread, unless one is already running. An
    exception in it is dropped: whoever needs GX next imports it again and raises there."""
    global _thread

    def run() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - see the docstring
            pass

    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=run, name="gx-import", daemon=True)
            _thread.start()
        return _thread


def ready() -> None:
    """Wait for a background GX import still under way (a no-op without one, or inside it)."""
    thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()
