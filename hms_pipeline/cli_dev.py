"""``hms-pipeline dev``: the Dagster UI on the product's instance, the reports beside it, and a clean stop.

- ``dagster dev`` (webserver, daemon, code server) runs in a process group of its own. Ctrl-C or
  TERM on this process sends TERM to that whole group, waits up to :data:`GRACE_SECONDS` for it to
  shut down (the daemon finishes its tick, the webserver closes its connections) and kills what is
  left: nothing of it outlives this process by more than that. The embedded PostgreSQL is not part
  of the group; it is stopped cleanly by ``hms-pipeline db stop``.
- The reports folder (``HMS_REPORTS_DIR``) is served read-only at ``HMS_REPORTS_URL`` (default
  ``http://127.0.0.1:3001``), so the ``report`` link in each run's metadata opens from the UI.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GRACE_SECONDS = 8.0  # TERM to the group, then KILL: the bound is 10 s


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (no request log on the terminal)
        return


def serve_reports(folder: Path, url: str) -> ThreadingHTTPServer:
    """Serve ``folder`` at ``url``'s host and port in a daemon thread; the server is returned."""
    parts = urlsplit(url)
    folder.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer((parts.hostname, parts.port or 80), handler)
    threading.Thread(target=server.serve_forever, name="reports", daemon=True).start()
    return server


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop(signum)


def stop_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """TERM ``proc``'s process group, then KILL whatever is left after ``grace`` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_dev(cmd: list[str], *, env: dict[str, str], cwd: Path, reports_dir: Path, reports_url: str) -> int:
    """Run ``cmd`` (``dagster dev ...``) in its own process group beside the reports server, until
    it exits or this process is interrupted or terminated."""
    try:
        server = serve_reports(reports_dir, reports_url)
    except OSError as exc:  # the port is taken: the UI still starts, the links will not open
        print(f"reports not served at {reports_url}: {exc.strerror}; set HMS_REPORTS_URL", file=sys.stderr)
        server = None
    else:
        print(f"reports: {reports_url}/ (the folder {reports_dir})")
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True)
    try:
        return proc.wait()
    except (_Stop, KeyboardInterrupt):
        print("stopping the Dagster UI and daemon ...", file=sys.stderr)
        stop_group(proc)
        return 0
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            stop_group(proc)
        if server is not None:
            server.shutdown()
