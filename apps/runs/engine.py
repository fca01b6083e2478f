"""The one run engine: every run is a plan of steps, and ``run_advance`` is
the one driver that moves them.

The submit task, the poller and a cancel all call ``run_advance``. It starts,
polls, cancels or finishes the run's current step and, when a step succeeds,
goes straight on to the next. A step moves only by compare-and-swap on its
status (``step_transition``); the run's status and progress are then derived
from its steps by one function (``run_derive``). No worker waits on a job:
a step is submitted with its idempotency key, and the beat hands the run back
to a worker when its ``next_poll_at`` is due.

One retry policy for every step: a transient ``BackendError`` backs off with
jitter (``RUN_RETRY_BASE_SECONDS`` doubling, at most ``RUN_RETRY_MAX_SECONDS``)
and counts an attempt, up to ``RUN_MAX_ATTEMPTS``; a permanent one fails the
step with its message; any other exception is a bug, not the cloud: it is
logged with its traceback and fails the step with a readable reason at once.
An attempt is counted before the backend is called, so a worker that dies
mid-submit also spends one: the watchdog never resubmits for ever.

What follows a step or a run ending (notify, link the model version...) is
done after the transition has committed, once, by ``hooks.effects_apply``.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.backends import registry
from apps.backends.base import Backend, BackendError, JobQueue, JobState, JobStatus, NotReady, require
from apps.connections.services import connection_backend

from . import hooks
from .expressions import Unresolved, resolve
from .models import (
    ACTIVE,
    STEP_ACTIVE,
    STEP_TERMINAL,
    STEP_TRANSITIONS,
    TERMINAL,
    Run,
    RunEvent,
    RunStatus,
    RunStep,
    StepStatus,
)
from .operations import OPERATIONS, Job, first_error, run_tags
from .transitions import (
    MAX_LOG_LINE,
    run_refresh,
    run_transition,
    step_transition,
)

logger = logging.getLogger(__name__)


def submit_watchdog() -> timedelta:
    """A step left in "submitting" this long (its worker died) is submitted again;
    its idempotency key makes that safe, and each try counts an attempt."""
    return timedelta(seconds=settings.RUN_SUBMIT_WATCHDOG_SECONDS)


def poll_lease() -> timedelta:
    """While a worker has the run, the beat does not hand it to another (for this long at most)."""
    return timedelta(seconds=settings.RUN_POLL_LEASE_SECONDS)


# --- the driver ------------------------------------------------------------------------


def run_advance(*, run_id) -> None:
    """Start, poll, cancel or finish the run's current step; go on while steps end at once."""
    run = Run.objects.select_related("team", "connection").get(pk=run_id)
    if run.status == RunStatus.PENDING and not run_transition(run=run, to=RunStatus.SUBMITTING, message="Starting"):
        run.refresh_from_db()  # cancelled before it started: a cancel sees the run starting, never a job alone
    steps = list(run.steps.all())
    for _ in range(len(steps) + 1):  # at most one pass per step
        if run.status in TERMINAL:
            break
        current = next((s for s in steps if s.status != StepStatus.SUCCEEDED), None)
        go_on = current is not None and _step_advance(run, current, steps)
        if current is not None and current.status in STEP_TERMINAL:
            hooks.effects_apply(run_id=run.pk)  # before the run can end: its model is in Models by then
        run_refresh(run, steps)
        if not go_on:
            break
    if run.status in TERMINAL:
        hooks.effects_apply(run_id=run.pk)


def _step_advance(run: Run, step: RunStep, steps: list[RunStep]) -> bool:
    """Move ``step`` on. True when it succeeded and the next one may start."""
    if step.status in {StepStatus.FAILED, StepStatus.CANCELLED}:
        steps_abandon(run=run, steps=steps)
        return False
    if run.status == RunStatus.CANCELLING:
        if step.status in {StepStatus.PENDING, StepStatus.WAITING} or (
            step.status == StepStatus.SUBMITTING and _step_withdraw(run, step)
        ):
            step_transition(step=step, to=StepStatus.CANCELLED, message="Cancelled")
            steps_abandon(run=run, steps=steps)
            return False
        if step.status == StepStatus.RUNNING:
            _step_cancel(run, step)
    if step.status in {StepStatus.PENDING, StepStatus.SUBMITTING}:
        _step_start(run, step, steps)
    elif step.status in {StepStatus.RUNNING, StepStatus.CANCELLING}:
        _step_poll(run, step)
    if step.status == StepStatus.SUCCEEDED and run.status == RunStatus.CANCELLING:
        steps_abandon(run=run, steps=steps)
        return False
    if step.status in {StepStatus.FAILED, StepStatus.CANCELLED}:
        steps_abandon(run=run, steps=steps)
    return step.status == StepStatus.SUCCEEDED


def _step_start(run: Run, step: RunStep, steps: list[RunStep]) -> None:
    if step.status == StepStatus.PENDING:
        try:
            params = resolve(step.inputs, step_context(run, steps)) if step.inputs else step.params
        except Unresolved as missing:
            step_transition(step=step, to=StepStatus.FAILED, message=f"Cannot resolve ${{{{ {missing.path} }}}}")
            return
        if step.is_gate:
            if step_transition(step=step, to=StepStatus.WAITING, message="Waiting for a decision", params=params):
                hooks.gate_waiting(run=run, step=step)
            _schedule(run, None)
            return
        if errors := OPERATIONS[step.action].validate(params):
            step_transition(step=step, to=StepStatus.FAILED, message=first_error(errors), params=params)
            return
        if not step_transition(step=step, to=StepStatus.SUBMITTING, message="Submitting", params=params):
            return
    _step_submit(run, step)


def _step_submit(run: Run, step: RunStep) -> None:
    if step.attempts >= settings.RUN_MAX_ATTEMPTS:
        step_transition(
            step=step,
            to=StepStatus.FAILED,
            message=f"Gave up after {step.attempts} attempts. Last: {step.status_message or 'no answer'}",
        )
        return
    _count_attempt(run, step)  # before calling: a worker dying mid-call spends it too
    _schedule(run, submit_watchdog().total_seconds())  # a worker dying here leaves the run due for a resubmit
    try:
        external_id = _call(run, step, "submit")
    except NotReady as waiting:  # not an attempt: submit again at the polling pace
        _count_attempt(run, step, -1)
        run_wait(run=run, step=step, message=f"{step.name}: {waiting.message}")
        return
    except BackendError as exc:
        if exc.permanent or step.attempts >= settings.RUN_MAX_ATTEMPTS:
            step_transition(step=step, to=StepStatus.FAILED, message=exc.message)
        else:
            RunStep.objects.filter(pk=step.pk).update(status_message=exc.message[:MAX_LOG_LINE])
            step.status_message = exc.message
            _log(run, step, f"Submit failed, will retry: {exc.message}", kind=RunEvent.Kind.ERROR)
            _schedule(run, backoff(step.attempts))
        return
    if step_transition(
        step=step, to=StepStatus.RUNNING, message=f"Submitted as {external_id}", external_id=external_id
    ):
        _schedule(run, settings.RUN_POLL_SECONDS)


def _step_poll(run: Run, step: RunStep) -> None:
    try:
        job = _call(run, step, "poll")
    except NotReady as waiting:  # mid-change in the backend (an endpoint updating): poll again at the pace
        run_wait(run=run, step=step, message=f"{step.name}: {waiting.message}")
        return
    except BackendError as exc:
        if exc.permanent:
            step_transition(step=step, to=StepStatus.FAILED, message=exc.message)
        else:  # the backend is unreachable for now: the job goes on there, poll again later
            _log(run, step, f"Poll failed, will retry: {exc.message}", kind=RunEvent.Kind.ERROR)
            _schedule(run, backoff(1))
        return
    _record_progress(run, step, job)
    made = _made(job)
    if job.state == JobState.SUCCEEDED:
        said = job.message if OPERATIONS[step.action].says_why and job.message else "Succeeded"
        step_transition(step=step, to=StepStatus.SUCCEEDED, message=said, **made)
    elif job.state == JobState.CANCELLED and step.status == StepStatus.CANCELLING:
        step_transition(step=step, to=StepStatus.CANCELLED, message="Cancelled", **made)
    elif job.state.is_terminal:
        reason = job.message or ("Cancelled outside the portal" if job.state == JobState.CANCELLED else "Failed")
        step_transition(step=step, to=StepStatus.FAILED, message=reason, **made)
    else:
        _schedule(run, settings.RUN_POLL_SECONDS)


def _made(job: JobStatus) -> dict:
    """The step's fields for what a finished job made (typed, from every backend alike)."""
    return {
        "outputs": job.outputs,
        "model_name": job.model.name if job.model else "",
        "model_version": str(job.model.version) if job.model else "",
        "metrics": {name: float(value) for name, value in job.metrics.items()},
        "links": [{"label": link.label, "url": link.url} for link in job.links],
    }


def _record_progress(run: Run, step: RunStep, job: JobStatus) -> None:
    if job.logs:
        RunEvent.objects.bulk_create(
            [RunEvent(run=run, step=step, kind=RunEvent.Kind.LOG, message=line[:MAX_LOG_LINE]) for line in job.logs]
        )
    RunStep.objects.filter(pk=step.pk, status=step.status).update(
        progress=job.progress,
        log_cursor=job.log_cursor,
        status_message=(job.message or step.status_message)[:MAX_LOG_LINE],
        updated_at=timezone.now(),
    )
    step.progress, step.log_cursor, step.status_message = (
        job.progress,
        job.log_cursor,
        job.message or step.status_message,
    )


def _step_cancel(run: Run, step: RunStep) -> None:
    """Ask the backend to stop the step's job, if it can be stopped midway;
    otherwise the run stops once the step ends."""
    if not OPERATIONS[step.action].cancellable:
        return  # e.g. an endpoint update: the run stops once it ends
    try:
        _call(run, step, "cancel")
    except BackendError as exc:
        retry = "" if exc.permanent else ", will retry"
        _log(run, step, f"Cancel failed{retry}: {exc.message}", kind=RunEvent.Kind.ERROR)
        if exc.permanent:
            step_transition(step=step, to=StepStatus.FAILED, message=f"Cancel failed: {exc.message}")
        else:
            _schedule(run, backoff(1))
        return
    step_transition(step=step, to=StepStatus.CANCELLING, message="Cancel requested")


def _step_withdraw(run: Run, step: RunStep) -> bool:
    """A cancelled run's step that is still waiting for its turn in the backend's
    own queue (``JobQueue``) is taken out of it and never starts: True. False
    when the backend has no queue or the job has started (or may have: a worker
    died mid-submit); then it is submitted, idempotently, and cancelled as a running job."""
    if not OPERATIONS[step.action].cancellable:
        return False  # e.g. an endpoint update: the run stops once it ends
    try:
        backend = backend_for(run)
        return isinstance(backend, JobQueue) and backend.withdraw_job(step.idempotency_key)
    except BackendError as exc:
        _log(run, step, f"Could not take the job out of its queue: {exc.message}", kind=RunEvent.Kind.ERROR)
        return False


def _call(run: Run, step: RunStep, verb: str):
    """The step's operation ``verb`` against its backend, with no transaction
    open. Anything but a BackendError is a bug in Atrium or an adapter, not
    the cloud: logged with its traceback, and a permanent error for the step
    with a reason a person can read (the traceback stays in the worker log)."""
    try:
        operation = OPERATIONS[step.action]
        backend = require(backend_for(run), operation.capability)  # a clear error where it has none
        return getattr(operation, verb)(backend, job_of_step(step, run))
    except BackendError:
        raise
    except Exception as exc:
        logger.exception("run %s step %s: %s raised", run.pk, step.key, verb)
        raise BackendError(
            f"Atrium could not {verb} this step: an internal error ({type(exc).__name__}). "
            "The details are in the worker's log.",
            permanent=True,
        ) from exc


def step_crashed(*, run_id, error: BaseException) -> None:
    """The driver itself raised (a bug): fail the run's current step readably
    rather than leave it to be picked up again for ever."""
    run = Run.objects.get(pk=run_id)
    steps = list(run.steps.all())
    current = next((s for s in steps if s.status in {*STEP_ACTIVE, StepStatus.PENDING}), None)
    if current is not None and StepStatus.FAILED in STEP_TRANSITIONS.get(current.status, ()):
        step_transition(
            step=current,
            to=StepStatus.FAILED,
            message=f"Atrium failed on this step: an internal error ({type(error).__name__}). "
            "The details are in the worker's log.",
        )
        steps_abandon(run=run, steps=steps)
    run_refresh(run, steps)
    hooks.effects_apply(run_id=run.pk)


def steps_abandon(*, run: Run, steps: list[RunStep] | None = None) -> None:
    """The run ended early: its steps that never started never will."""
    RunStep.objects.filter(run=run, status=StepStatus.PENDING).update(
        status=StepStatus.CANCELLED, status_message="Not started", updated_at=timezone.now()
    )
    for step in steps or []:
        if step.status == StepStatus.PENDING:
            step.status, step.status_message = StepStatus.CANCELLED, "Not started"


# --- helpers -----------------------------------------------------------------------------


def backend_for(run: Run) -> Backend:
    if run.connection_id:
        return connection_backend(run.connection)
    return registry.get_backend(run.backend)


def job_of_step(step: RunStep, run: Run) -> Job:
    return Job(
        key=step.idempotency_key,
        params=step.params,
        external_id=step.external_id,
        log_cursor=step.log_cursor,
        tags=run_tags(run, step.params),
    )


def step_context(run: Run, steps: list[RunStep]) -> dict:
    """What ``${{ }}`` references read: parameters, succeeded steps' results, the run."""
    return {
        "parameters": run.params,
        "steps": {s.key: {"outputs": s.results} for s in steps if s.status == StepStatus.SUCCEEDED},
        "run": {"id": str(run.pk), "name": run.name, "team": run.team.slug},
    }


def backoff(attempts: int) -> float:
    """Seconds before trying again after ``attempts`` transient failures, with jitter."""
    base = min(settings.RUN_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.RUN_RETRY_MAX_SECONDS)
    return base * random.uniform(0.8, 1.2)


def _count_attempt(run: Run, step: RunStep, by: int = 1) -> None:
    RunStep.objects.filter(pk=step.pk).update(attempts=F("attempts") + by)
    Run.objects.filter(pk=run.pk).update(attempts=F("attempts") + by)
    step.attempts += by


def _schedule(run: Run, seconds: float | None) -> None:
    when = None if seconds is None else timezone.now() + timedelta(seconds=seconds)
    Run.objects.filter(pk=run.pk).update(next_poll_at=when)


def run_wait(*, run: Run, step: RunStep, message: str) -> None:
    """The backend is preparing something: poll again soon, and say so once
    (not at every poll) in the log."""
    _schedule(run, settings.RUN_POLL_SECONDS)
    last = RunEvent.objects.filter(run=run).order_by("-id").values_list("message", flat=True).first()
    if last != message:
        RunEvent.objects.create(run=run, step=step, kind=RunEvent.Kind.LOG, message=message[:MAX_LOG_LINE])


def _log(run: Run, step: RunStep, message: str, *, kind=RunEvent.Kind.LOG) -> None:
    RunEvent.objects.create(run=run, step=step, kind=kind, message=f"{step.name}: {message}"[:MAX_LOG_LINE])
    logger.info("run %s step %s: %s", run.pk, step.key, message)


# --- the poller -----------------------------------------------------------------------------


def runs_claim_due(*, limit: int = 200) -> list[str]:
    """Claim the runs whose turn is due (a poll, a retry, a lost submit task),
    with a lease so that no other beat tick hands them out twice."""
    now = timezone.now()
    due = Run.objects.filter(status__in=[RunStatus.PENDING, *ACTIVE], next_poll_at__lte=now)
    claimed = []
    for pk, next_poll_at in due.values_list("pk", "next_poll_at")[:limit]:
        if Run.objects.filter(pk=pk, next_poll_at=next_poll_at).update(next_poll_at=now + poll_lease()):
            claimed.append(str(pk))
    return claimed
