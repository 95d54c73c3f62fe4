"""Fuzz the backfill with small random hostile legacy databases (the property of
tests/test_properties_hostile.py, randomized, with a larger budget).

    python bench/fuzz_backfill.py --examples 40 --seconds 1200
                                  [--profile both|all|blueprint|live|hostile|hostile-live]
                                  [--url postgresql://.../postgres] [--shrink-seconds 300] [--json]
                                  [--known REGEX ...] [--survey] [--separate-legacy]

Each example: a fresh database with the canonical DDL, a generated legacy base of 20-40 patients
(random seed, the profile) without any legacy constraint, a drawn list of hostile mutations
(tests/hostile_strategies.py), then the backfill in-process and the invariants: the run succeeds,
every legacy row is accounted for, every canonical constraint holds, a no-change re-run writes 0
rows, a copy of the legacy rows in another physical order gives the same canonical rows, and no
generated name/phone/e-mail appears in the logs or the event log.

The server (a database it may create databases on) is ``--url``, else ``HMS_BENCH_DATABASE_URL``,
else ``HMS_TEST_DATABASE_URL``, else the product's database server (embedded by default).

Prints the number of examples tried (and shrink steps), every distinct violation seen across all
examples, and for each failure Hypothesis reports its shrunk example (the mutations, resolved) and
the error. Messages carry table names, error classes and counts only (no legacy value). The run
stops generating at ``--examples`` or ``--seconds`` (whichever first; an example in progress
finishes); shrinking a failure then takes at most ``--shrink-seconds``. Exit code 0 when no failure
was found, 1 otherwise.

Hypothesis stops generating at the first failure and shrinks it. To look past a failure class already
known, ``--known REGEX`` (repeatable) ignores the violations whose line matches (they are still
tallied). ``--survey`` never fails an example: it runs the whole budget without shrinking and prints,
per distinct violation (numbers masked), how many examples showed it and the smallest of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


@dataclass
class State:
    deadline: float
    max_examples: int
    tried: int = 0
    rejected_after_deadline: int = 0
    shrink_calls: int = 0
    failed: bool = False
    seconds_in_examples: float = 0.0
    signatures: Counter = field(default_factory=Counter)
    smallest: dict = field(default_factory=dict)  # masked signature -> (mutations, case, descriptions)


def server_url(arg: str | None) -> str:
    from hms_pipeline.db import with_database

    url = arg or os.environ.get("HMS_BENCH_DATABASE_URL") or os.environ.get("HMS_TEST_DATABASE_URL")
    if not url:
        from hms_pipeline.db import canonical_url
        from hms_pipeline.settings import load_settings

        url = canonical_url(load_settings())
    return with_database(url, "postgres")


def signature_lines(outcome) -> list[str]:
    """One line per violation (invariant + message), for the tally across examples."""
    out = []
    for cls, msg in outcome.violations:
        for part in msg.split("; "):
            out.append(f"{cls.__name__}: {part[:220]}")
    return out


def masked(sig: str) -> str:
    return re.sub(r"\d+", "N", sig)


def fuzz_profile(profile: str, server: str, examples: int, seconds: float, shrink_seconds: float,
                 max_mutations: int, quiet: bool, known: list[str] = (), survey: bool = False,
                 min_mutations: int = 1, separate_legacy: bool = False) -> tuple[State, list[dict]]:
    from hypothesis import HealthCheck, Phase, given, note, reject, settings
    from hypothesis.internal.conjecture import engine

    from hostile_strategies import check_case, describe, hostile_cases

    known_re = [re.compile(k) for k in known]

    engine.MAX_SHRINKING_SECONDS = int(shrink_seconds)
    state = State(deadline=time.monotonic() + seconds, max_examples=examples)

    @settings(max_examples=examples, deadline=None, derandomize=False, database=None, report_multiple_bugs=True,
              phases=[Phase.generate] if survey else [Phase.generate, Phase.shrink], print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(case=hostile_cases(profile, min_mutations=min_mutations, max_mutations=max_mutations))
    def prop(case):
        if not state.failed:
            if time.monotonic() > state.deadline:
                state.rejected_after_deadline += 1
                reject()
            state.tried += 1
        else:
            state.shrink_calls += 1
        outcome = check_case(server, case, note=note, separate_legacy=separate_legacy)
        state.seconds_in_examples += outcome.seconds
        sigs = signature_lines(outcome)
        if not state.failed:
            state.signatures.update({masked(s) for s in sigs})
            for s in {masked(s) for s in sigs}:
                if s not in state.smallest or len(case.mutations) < state.smallest[s][0]:
                    state.smallest[s] = (len(case.mutations), describe(case), outcome.descriptions)
        if not quiet and not state.failed:
            status = "ok" if not sigs else f"{len(sigs)} violation(s): " + " | ".join(s[:120] for s in sigs[:3])
            print(f"  [{profile} #{state.tried}] {len(case.mutations)} mutation(s), {outcome.seconds:.1f}s: {status}",
                  flush=True)
        if survey:
            return
        outcome.violations = [(cls, msg) for cls, msg in outcome.violations
                              if not all(any(k.search(part) for k in known_re) for part in msg.split("; "))]
        if outcome.violations:
            state.failed = True
        outcome.raise_if_violated()

    failures: list[dict] = []
    try:
        prop()
    except BaseException as exc:  # noqa: BLE001 - report whatever Hypothesis raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        excs = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
        for e in excs:
            notes = list(getattr(e, "__notes__", []))
            entry = {"error": type(e).__name__, "invariant": getattr(e, "invariant", None),
                     "message": str(e), "example": notes}
            if getattr(e, "invariant", None) is None:  # a crash of the harness itself, not a violation
                entry["traceback"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-4000:]
            failures.append(entry)
    return state, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=40, help="examples to generate (per profile)")
    ap.add_argument("--seconds", type=float, default=1200, help="stop generating after this (total)")
    ap.add_argument("--profile", default="both",
                    choices=("both", "all", "blueprint", "live", "hostile", "hostile-live"),
                    help="generator profile of the base: both = blueprint and live (as CI); all = also the "
                         "generator's own hostile profiles as the base the mutations start from")
    ap.add_argument("--url", default=None, help="a server URL on which databases may be created")
    ap.add_argument("--shrink-seconds", type=float, default=300)
    ap.add_argument("--min-mutations", type=int, default=1)
    ap.add_argument("--max-mutations", type=int, default=25)
    ap.add_argument("--known", action="append", default=[], metavar="REGEX",
                    help="ignore violations matching this (repeatable): look for other failure classes")
    ap.add_argument("--survey", action="store_true", help="never stop on a failure; tally every violation")
    ap.add_argument("--separate-legacy", action="store_true",
                    help="legacy tables in a database of their own (HMS_LEGACY_DATABASE_URL: staging by COPY)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()

    server = server_url(args.url)
    profiles = {"both": ("blueprint", "live"), "all": ("blueprint", "live", "hostile", "hostile-live")}.get(
        args.profile, (args.profile,))
    started = time.monotonic()
    results = {}
    for i, profile in enumerate(profiles):
        left = args.seconds - (time.monotonic() - started)
        share = left / (len(profiles) - i)
        if not args.json:
            print(f"profile {profile}: up to {args.examples} examples / {share:.0f}s", flush=True)
        state, failures = fuzz_profile(profile, server, args.examples, share, args.shrink_seconds,
                                       args.max_mutations, quiet=args.json, known=args.known, survey=args.survey,
                                       min_mutations=args.min_mutations, separate_legacy=args.separate_legacy)
        results[profile] = {"examples_tried": state.tried, "shrink_steps": state.shrink_calls,
                            "seconds_in_examples": round(state.seconds_in_examples, 1),
                            "violations_seen": dict(state.signatures.most_common()),
                            "smallest_example": {s: {"mutations": n, "case": c, "resolved": d}
                                                 for s, (n, c, d) in state.smallest.items()},
                            "failures": failures}
    total = time.monotonic() - started
    if args.json:
        print(json.dumps({"seconds": round(total, 1), "profiles": results}, indent=2, ensure_ascii=False))
    else:
        for profile, r in results.items():
            print(f"\n== {profile}: {r['examples_tried']} examples tried, {r['shrink_steps']} shrink steps, "
                  f"{r['seconds_in_examples']}s in examples")
            if r["violations_seen"]:
                print("violations seen (examples showing each; numbers masked), each group with its smallest example:")
                groups: dict[str, list[str]] = {}
                for sig in r["violations_seen"]:
                    groups.setdefault(r["smallest_example"][sig]["case"], []).append(sig)
                for case, sigs in groups.items():
                    for sig in sigs:
                        print(f"  {r['violations_seen'][sig]:3d}  {sig}")
                    small = r["smallest_example"][sigs[0]]
                    print("       smallest: " + case.replace("\n", "\n       "))
                    for d in small["resolved"]:
                        print(f"         {d}")
            for f in r["failures"]:
                print(f"\nFAILURE ({f['invariant'] or f['error']}), shrunk:")
                for line in f["example"]:
                    print(f"  {line}")
                print("  error: " + f["message"].replace("\n", "\n         "))
                if "traceback" in f:
                    print(f["traceback"])
            if not r["failures"]:
                print("no failure found")
        print(f"\ntotal {total:.0f}s")
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
