"""A concurrent writer: the old application keeps writing while a delta runs (issue "Deltas that
equal a full load, never miss a change").

A bounded writer thread (its own connection; at most ``MAX_WRITES`` writes in small committed
transactions of 1-3 writes, for at most ``SECONDS``) inserts, updates (some keeping ``updated_at``),
backdates and deletes legacy rows while two deltas run one after the other. Each of those runs
stages one consistent snapshot, so it must hold every identity on its own. Then the writer stops,
one more delta runs, and:

* every blocking check passes (reconciliation: every staged legacy row is loaded, merged or
  quarantined; no live row points at a soft-deleted parent);
* every legacy row is accounted for: staged as it is now, and nothing gone staged as live;
* the canonical rows and the provenance equal those of a fresh full load of the final legacy rows.
"""

from __future__ import annotations

import sys
import time

import pytest

from legacy_writes import (DELETABLE, BackgroundWriter, clone, delta_equals_full_load, drop_bases, drop_database,
                           identity_problems, make_bases, run_delta, staging_problems)

MAX_WRITES = 200
SECONDS = 60.0
ROUNDS = 2  # deltas while the writer writes


@pytest.mark.parametrize("seed", [3])
def test_a_delta_after_concurrent_writes_equals_a_full_load(pg_server_url, monkeypatch, seed):
    timings = []
    began = time.monotonic()
    base = make_bases(pg_server_url, monkeypatch, profile="blueprint", scale=24, seed=seed)
    timings.append(("generate + first backfill", time.monotonic() - began))
    url = clone(pg_server_url, base.loaded, "cw")
    writer = BackgroundWriter(url, seed=seed, max_writes=MAX_WRITES, seconds=SECONDS, pause=0.03)
    try:
        writer.start()
        while not writer.log and writer.is_alive():  # let it get going
            time.sleep(0.01)
        windows = []
        for n in range(ROUNDS):
            started = time.monotonic()
            during = run_delta(monkeypatch, url, accept_deletions=DELETABLE)
            windows.append((started, time.monotonic()))
            timings.append((f"delta {n + 1} during writes", windows[-1][1] - started))
            assert not identity_problems(during), f"delta {n + 1} during writes: {identity_problems(during)}"
        writer.stop.set()
        writer.join(30)
        assert not writer.is_alive(), "the writer did not stop"
        assert writer.error is None, f"the writer failed: {writer.error!r}"
        overlapping = [d for at, d in writer.log if any(a <= at <= b for a, b in windows)]
        assert overlapping, "no write committed while a delta ran"

        began = time.monotonic()
        final = run_delta(monkeypatch, url, accept_deletions=DELETABLE)
        timings.append(("final delta", time.monotonic() - began))
        writes = "\n".join(f"  {d}" for _, d in writer.log)
        problems = identity_problems(final) + staging_problems(url)
        assert not problems, f"after {len(writer.log)} concurrent writes:\n{writes}\n" + "\n".join(problems)
        began = time.monotonic()
        fresh_problems, diff = delta_equals_full_load(monkeypatch, base, url)
        timings.append(("fresh full load + compare", time.monotonic() - began))
        assert not fresh_problems, f"after {len(writer.log)} concurrent writes:\n{writes}\n" + "\n".join(fresh_problems)
        assert not diff, f"after {len(writer.log)} concurrent writes:\n{writes}\nthe delta differs from a full load:\n{diff}"
        timings.append((f"{len(writer.log)} writes in {writer.transactions} transactions, "
                        f"{len(overlapping)} committed during a delta", 0.0))
    finally:
        writer.stop.set()
        writer.join(30)
        drop_database(pg_server_url, url)
        drop_bases(base)
        print("\n" + "\n".join(f"  {what}: {secs:.1f}s" for what, secs in timings), file=sys.stderr)
