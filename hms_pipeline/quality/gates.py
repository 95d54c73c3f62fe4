"""Phase gates across runs: a phase does not start while a blocking check of an earlier phase fails.

Within one run Dagster already skips everything downstream of a blocking check that failed with
ERROR severity. Across runs (a schedule starting the next phase on its own) nothing does, so the
schedules of later phases ask :func:`phase_gate` first and skip, naming the failing checks, while
the gate is closed.

A check counts when its spec is ``blocking`` (every ``reconciliation``; the ``expectations`` check
of a suite's ERROR rules) or carries the ``hms/gates`` metadata (``expectations_late`` with ERROR
rules: it runs after the tables it reads, so it cannot block them, but its failure still gates).
Its state is its *latest* execution, as the Dagster UI shows it:

- evaluated and failed with ERROR severity -> failing (a WARN-severity failure never blocks);
- planned in a run that then failed without evaluating it (the check raised, or its asset was
  skipped or crashed) -> failing as "not evaluated": what that run left was never checked;
- planned in a run still in progress, or one that ended without running it (a subset) -> the
  latest completed evaluation still holds;
- never executed -> nothing to hold against the phase.

A phase is gated only by the phases before it (``order``), never by its own failures: re-running
it is how they get fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

MAX_NAMED = 10  # checks named in a skip reason; the rest are counted


@dataclass(frozen=True)
class FailingCheck:
    check_key: dg.AssetCheckKey
    run_id: str
    evaluated: bool  # False: its latest run failed before evaluating it
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.check_key.asset_key.to_user_string()}:{self.check_key.name}"

    def __str__(self) -> str:
        if not self.evaluated:
            return f"{self.name} (not evaluated: run {self.run_id} failed)"
        return f"{self.name} ({self.description})" if self.description else self.name


@dataclass(frozen=True)
class GateStatus:
    phase: str
    gated_by: tuple[str, ...]  # the earlier phases
    failing: tuple[FailingCheck, ...]

    @property
    def closed(self) -> bool:
        return bool(self.failing)

    @property
    def reason(self) -> str:
        earlier = ", ".join(self.gated_by) or "none"
        if not self.failing:
            return f"phase {self.phase!r}: gate open (no blocking check of {earlier} is failing)"
        named = "; ".join(str(f) for f in self.failing[:MAX_NAMED])
        more = len(self.failing) - MAX_NAMED
        return (f"phase {self.phase!r} gated: {len(self.failing)} blocking check(s) of earlier phase(s) "
                f"({earlier}) failing: {named}" + (f"; and {more} more" if more > 0 else ""))


GATES_METADATA = "hms/gates"  # check metadata: a non-blocking check that still gates (ERROR rules run late)


def _gates(spec) -> bool:
    return bool(spec.blocking or (spec.metadata or {}).get(GATES_METADATA))


def blocking_check_keys(asset_graph, asset_keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
    """The checks of ``asset_keys`` declared blocking (or carrying the ``hms/gates`` metadata: a
    suite's ERROR rules that run late, once the tables they read are loaded), in a stable order."""
    keys = asset_graph.get_check_keys_for_assets(set(asset_keys))
    return sorted((k for k in keys if _gates(asset_graph.get_check_spec(k))),
                  key=lambda k: (k.asset_key.to_user_string(), k.name))


def _evaluation_fails(record) -> bool:
    ev = record.evaluation
    return ev is not None and not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR


def failing_blocking_checks(instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey], *,
                            asset_graph) -> list[FailingCheck]:
    """The blocking checks of ``asset_keys`` whose latest execution fails (see the module doc),
    evaluated failures first. ``asset_graph`` (handed in by the caller: this module never loads the
    code location) gives the checks and whether they block."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    keys = blocking_check_keys(asset_graph, asset_keys)
    if not keys:
        return []
    summaries = instance.event_log_storage.get_asset_check_summary_records(keys)
    runs: dict[str, dg.DagsterRun | None] = {}
    evaluated, not_evaluated = [], []
    for key in keys:
        summary = summaries.get(key)
        latest = summary.last_check_execution_record if summary else None
        if latest is None:
            continue
        if latest.status == Status.PLANNED:
            if latest.run_id not in runs:
                runs[latest.run_id] = instance.get_run_by_id(latest.run_id)
            run = runs[latest.run_id]
            if run is not None and run.is_finished and run.status == dg.DagsterRunStatus.FAILURE:
                not_evaluated.append(FailingCheck(key, latest.run_id, evaluated=False))
                continue
            latest = summary.last_completed_check_execution_record  # in progress / not part of that run
            if latest is None:
                continue
        if _evaluation_fails(latest):
            evaluated.append(FailingCheck(key, latest.run_id, evaluated=True,
                                          description=(latest.evaluation.description or "")[:300]))
    return evaluated + not_evaluated


def phase_gate(instance: dg.DagsterInstance, phase: str, *, phases: Mapping[str, dg.AssetSelection],
               order: Sequence[str] | None = None, asset_graph) -> GateStatus:
    """Whether ``phase`` may start: closed while a blocking check of an earlier phase fails."""
    order = list(order or phases)
    if phase not in order:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(order)}")
    graph = asset_graph
    earlier = tuple(order[:order.index(phase)])
    keys: set[dg.AssetKey] = set()
    for p in earlier:
        keys |= set(phases[p].resolve(graph))
    return GateStatus(phase, earlier, tuple(failing_blocking_checks(instance, keys, asset_graph=graph)))


def cutover_skip_reason() -> str | None:
    """Why deltas no longer run: the compatibility views are on (the application writes the
    canonical tables directly through them), or the cutover is done (torn down). None when they are
    off or the database is unreachable."""
    from hms_pipeline.compat.switch import compat_is_on, cutover_done, state
    from hms_pipeline.resources import HmsDatabaseResource

    try:
        with HmsDatabaseResource().connect() as conn:
            done = cutover_done(conn)
            if not done and not compat_is_on(conn):
                return None
            s = state(conn)
    except Exception:  # noqa: BLE001  (no database: the gate below reports it)
        return None
    if done:
        return (f"the cutover is done: cutover teardown dropped the legacy tables at {s['at']:%Y-%m-%d %H:%M}; "
                "the application writes the canonical tables, there is nothing to copy")
    return (f"the compatibility views are on since {s['at']:%Y-%m-%d %H:%M} (cutover compat): the application "
            "writes the canonical tables through them, so there is no delta to copy; cutover rollback resumes this")


def unchanged_skip_reason() -> str | None:
    """Why a delta run would have nothing to do: the legacy and canonical tables, the transforms,
    suites and settings are as the last successful backfill found them (engine/probe.py). None when
    something changed, or the answer is not known (no database: the gate below reports it)."""
    from hms_pipeline.engine import probe
    from hms_pipeline.resources import HmsDatabaseResource

    try:
        same = probe.unchanged(HmsDatabaseResource().settings())
    except Exception:  # noqa: BLE001
        return None
    if same is None:
        return None
    return f"nothing changed since backfill run {same[0]} succeeded ({same[1]}): no delta to copy"


def delta_skip_reason() -> str | None:
    """The backfill_deltas schedule's reasons to skip a tick, first the cutover, then no change."""
    return cutover_skip_reason() or unchanged_skip_reason()


def gated_schedule(*, name: str, job_name: str, phase: str, phases: Mapping[str, dg.AssetSelection],
                   order: Sequence[str] | None = None, cron_schedule: str, description: str = "",
                   default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
                   skip_reason: Callable[[], str | None] | None = None,
                   ) -> dg.ScheduleDefinition:
    """A schedule of ``job_name`` (the job of ``phase``) that skips, naming the failing checks,
    while :func:`phase_gate` is closed, and whenever ``skip_reason()`` gives a reason."""
    order = tuple(order or phases)

    @dg.schedule(name=name, job_name=job_name, cron_schedule=cron_schedule, default_status=default_status,
                 description=(description + " " if description else "")
                 + f"Skips while a blocking check of an earlier phase ({', '.join(order[:order.index(phase)]) or 'none'}) "
                 "is failing.")
    def _schedule(context: dg.ScheduleEvaluationContext):
        graph = context.repository_def.asset_graph  # the code location the schedule is part of
        reason = skip_reason() if skip_reason else None
        if reason:
            context.log.info(reason)
            return dg.SkipReason(reason)
        gate = phase_gate(context.instance, phase, phases=phases, order=order, asset_graph=graph)
        if gate.closed:
            context.log.info(gate.reason)
            return dg.SkipReason(gate.reason)
        return dg.RunRequest()

    return _schedule
