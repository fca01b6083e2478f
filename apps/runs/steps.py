"""Template runs: a Run with ordered RunSteps, driven one step at a time.

``run_advance`` is the one driver. The submit task and the poller both call it;
it starts, polls or finishes the current step and, when a step succeeds, goes
straight on to the next. Like single runs, a step is submitted with its own
idempotency key and polled by the beat -- no worker waits on a job -- and a
step moves only by compare-and-swap on its status.

A gate step ("approval") calls no backend: it waits until a person decides
(``step_decide``), then the run goes on or fails.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.backends.base import BackendError, JobState, NotReady

from . import services
from .expressions import Unresolved, resolve
from .models import STEP_TERMINAL, STEP_TRANSITIONS, Run, RunEvent, RunStatus, RunStep, StepStatus
from .operations import OPERATIONS, Job, first_error, run_tags

logger = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 6  # transient submit failures before a step gives up
SUBMIT_WATCHDOG = timedelta(minutes=2)


class StepDecisionError(Exception):
    pass


# --- creation -----------------------------------------------------------------


def steps_create(*, run: Run, steps: list[dict], reuse: dict[str, RunStep] | None = None) -> list[RunStep]:
    """The run's steps from the template's. Steps in ``reuse`` (by key) are
    carried over as succeeded, outputs and all, without being redone."""
    reuse = reuse or {}
    created = []
    for position, spec in enumerate(steps):
        step_id = uuid.uuid4()
        old = reuse.get(spec["id"])
        created.append(
            RunStep(
                id=step_id,
                run=run,
                position=position,
                key=spec["id"],
                name=spec.get("name") or spec["id"].replace("_", " ").capitalize(),
                action=spec["action"],
                inputs=spec.get("input", {}),
                idempotency_key=f"atr-{step_id.hex}",
                **(_reused_fields(old) if old else {}),
            )
        )
    return RunStep.objects.bulk_create(created)


def _reused_fields(old: RunStep) -> dict:
    return {
        "status": StepStatus.SUCCEEDED,
        "status_message": f"Reused from run {str(old.run_id)[:8]}",
        "params": old.params,
        "outputs": old.outputs,
        "external_id": old.external_id,
        "progress": 100.0,
        "reused_from": old,
        "started_at": old.started_at,
        "finished_at": old.finished_at,
    }


# --- moving a step --------------------------------------------------------------


def step_transition(*, step: RunStep, to: str, message: str = "", **fields) -> bool:
    """Move ``step`` from the status it was read with; False if another worker moved it first."""
    old = step.status
    if to not in STEP_TRANSITIONS.get(old, ()):
        raise ValueError(f"A step cannot go from {old} to {to}.")
    now = timezone.now()
    if to in {StepStatus.RUNNING, StepStatus.WAITING} and step.started_at is None:
        fields["started_at"] = now
    if to in STEP_TERMINAL:
        fields["finished_at"] = now
        if to == StepStatus.SUCCEEDED:
            fields["progress"] = 100.0
    if message:
        fields.setdefault("status_message", message)
    with transaction.atomic():
        if not RunStep.objects.filter(pk=step.pk, status=old).update(status=to, updated_at=now, **fields):
            return False
        RunEvent.objects.create(
            run_id=step.run_id,
            step=step,
            kind=RunEvent.Kind.TRANSITION,
            from_status=old,
            to_status=to,
            message=f"{step.name}: {message}" if message else step.name,
        )
    step.status = to
    for name, value in fields.items():
        setattr(step, name, value)
    return True


def job_of_step(step: RunStep) -> Job:
    return Job(
        key=step.idempotency_key,
        params=step.params,
        external_id=step.external_id,
        log_cursor=step.log_cursor,
        tags=run_tags(step.run, step.params),
    )


def step_context(run: Run, steps: list[RunStep]) -> dict:
    """What ``${{ }}`` references read: parameters, succeeded steps' outputs, the run."""
    return {
        "parameters": run.params,
        "steps": {s.key: {"outputs": s.outputs} for s in steps if s.status == StepStatus.SUCCEEDED},
        "run": {"id": str(run.pk), "name": run.name, "team": run.team.slug},
    }


# --- the driver -------------------------------------------------------------------


def run_advance(*, run_id) -> None:
    """Start, poll or finish the run's current step; go on while steps end at once."""
    run = Run.objects.select_related("team", "connection").get(pk=run_id)
    started = run.status != RunStatus.PENDING or services.run_transition(
        run=run, to=RunStatus.SUBMITTING, message="Starting"
    )
    if not started:
        return
    if run.status == RunStatus.SUBMITTING:
        Run.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1)
        if not services.run_transition(run=run, to=RunStatus.RUNNING, message="Running its steps", external_id="steps"):
            return
    for _ in range(run.steps.count() + 1):  # at most one pass per step
        if run.status not in {RunStatus.RUNNING, RunStatus.CANCELLING}:
            return
        steps = list(run.steps.all())
        current = next((s for s in steps if s.status != StepStatus.SUCCEEDED), None)
        if current is None:
            _run_end(run, RunStatus.SUCCEEDED, "All steps succeeded", steps)
            return
        if not _step_advance(run, current, steps):
            return


def _step_advance(run: Run, step: RunStep, steps: list[RunStep]) -> bool:
    """Move ``step`` on. True when it succeeded and the next one may start."""
    if step.status in {StepStatus.FAILED, StepStatus.CANCELLED}:
        to = RunStatus.CANCELLED if step.status == StepStatus.CANCELLED else RunStatus.FAILED
        _run_end(run, to, f"Step {step.name!r}: {step.status_message or step.status}", steps)
        return False
    if run.status == RunStatus.CANCELLING:
        if step.status in {StepStatus.PENDING, StepStatus.WAITING}:
            step_transition(step=step, to=StepStatus.CANCELLED, message="Cancelled")
            _run_end(run, RunStatus.CANCELLED, "Cancelled", steps)
            return False
        if step.status == StepStatus.RUNNING:
            _step_cancel(run, step)
    if step.status in {StepStatus.PENDING, StepStatus.SUBMITTING}:
        _step_start(run, step, steps)
    elif step.status in {StepStatus.RUNNING, StepStatus.CANCELLING}:
        _step_poll(run, step)
    if step.status == StepStatus.SUCCEEDED and run.status == RunStatus.CANCELLING:
        _run_end(run, RunStatus.CANCELLED, f"Cancelled after step {step.name!r}", steps)
        return False
    if step.status in {StepStatus.FAILED, StepStatus.CANCELLED}:
        return True  # the next pass ends the run with the step's reason
    return step.status == StepStatus.SUCCEEDED


def _step_start(run: Run, step: RunStep, steps: list[RunStep]) -> None:
    if step.status == StepStatus.PENDING:
        try:
            params = resolve(step.inputs, step_context(run, steps))
        except Unresolved as missing:
            step_transition(step=step, to=StepStatus.FAILED, message=f"Cannot resolve ${{{{ {missing.path} }}}}")
            return
        if step.is_gate:
            step_transition(step=step, to=StepStatus.WAITING, message="Waiting for a decision", params=params)
            _schedule(run, None)
            _notify_gate(run, step)
            return
        if errors := OPERATIONS[step.action].validate(params):
            step_transition(step=step, to=StepStatus.FAILED, message=first_error(errors), params=params)
            return
        if not step_transition(step=step, to=StepStatus.SUBMITTING, message="Submitting", params=params):
            return
    _step_submit(run, step)


def _step_submit(run: Run, step: RunStep) -> None:
    _schedule(run, SUBMIT_WATCHDOG.total_seconds())  # a worker dying here leaves the run due for a resubmit
    try:
        external_id = _backend_submit(run, step)
    except NotReady as waiting:  # not an attempt: submit again at the polling pace
        services.run_wait(run=run, message=f"{step.name}: {waiting.message}", step=step)
        return
    except BackendError as exc:
        _count_attempt(step)
        if exc.permanent or step.attempts >= MAX_STEP_ATTEMPTS:
            step_transition(step=step, to=StepStatus.FAILED, message=exc.message)
        else:
            _log(run, step, f"Submit failed, will retry: {exc.message}", kind=RunEvent.Kind.ERROR)
            _schedule(run, min(settings.RUN_RETRY_BASE_SECONDS * 2**step.attempts, 300))
        return
    _count_attempt(step)
    if step_transition(
        step=step, to=StepStatus.RUNNING, message=f"Submitted as {external_id}", external_id=external_id
    ):
        _schedule(run, settings.RUN_POLL_SECONDS)


def _count_attempt(step: RunStep) -> None:
    RunStep.objects.filter(pk=step.pk).update(attempts=F("attempts") + 1)
    step.attempts += 1


def _backend_submit(run: Run, step: RunStep) -> str:
    """Submit the step's job (no transaction open). An exception other than a
    BackendError is a bug, not the cloud: it is retried like a transient error
    and then fails the step, rather than leaving it submitting for ever."""
    try:
        return OPERATIONS[step.action].submit(services.backend_for(run), job_of_step(step))
    except BackendError:
        raise
    except Exception as exc:
        logger.exception("run %s step %s: submit raised", run.pk, step.key)
        raise BackendError(f"Unexpected error: {type(exc).__name__}: {exc}") from exc


def _step_poll(run: Run, step: RunStep) -> None:
    try:
        job = OPERATIONS[step.action].poll(services.backend_for(run), job_of_step(step))
    except BackendError as exc:
        if exc.permanent:
            step_transition(step=step, to=StepStatus.FAILED, message=exc.message)
        else:
            _log(run, step, f"Poll failed, will retry: {exc.message}", kind=RunEvent.Kind.ERROR)
            _schedule(run, 10)
        return
    if job.logs:
        RunEvent.objects.bulk_create(
            [
                RunEvent(run=run, step=step, kind=RunEvent.Kind.LOG, message=line[: services.MAX_LOG_LINE])
                for line in job.logs
            ]
        )
    RunStep.objects.filter(pk=step.pk, status=step.status).update(
        progress=job.progress, log_cursor=job.log_cursor, status_message=job.message or step.status_message
    )
    step.progress, step.log_cursor = job.progress, job.log_cursor
    _record_run_progress(run, step)
    if job.state == JobState.SUCCEEDED:
        step_transition(step=step, to=StepStatus.SUCCEEDED, message="Succeeded", outputs=job.outputs)
    elif job.state == JobState.CANCELLED and step.status == StepStatus.CANCELLING:
        step_transition(step=step, to=StepStatus.CANCELLED, message="Cancelled", outputs=job.outputs)
    elif job.state.is_terminal:
        step_transition(step=step, to=StepStatus.FAILED, message=job.message or "Failed", outputs=job.outputs)
    else:
        _schedule(run, settings.RUN_POLL_SECONDS)


def _record_run_progress(run: Run, step: RunStep) -> None:
    """The run's progress: finished steps plus the share of the current one."""
    total = run.steps.count()
    progress = (step.position + step.progress / 100) / total * 100
    Run.objects.filter(pk=run.pk).update(progress=progress, updated_at=timezone.now())


def _run_end(run: Run, to: str, message: str, steps: list[RunStep]) -> None:
    outputs = {s.key: s.outputs for s in steps if s.status == StepStatus.SUCCEEDED and s.outputs}
    if to != RunStatus.SUCCEEDED:
        steps_abandon(run=run)
    if to in TERMINAL_FROM.get(run.status, ()):
        services.run_transition(run=run, to=to, message=message, outputs=outputs)


def steps_abandon(*, run: Run) -> None:
    """The run ended early: its steps that never started never will."""
    RunStep.objects.filter(run=run, status=StepStatus.PENDING).update(
        status=StepStatus.CANCELLED, status_message="Not started", updated_at=timezone.now()
    )


TERMINAL_FROM = {
    RunStatus.RUNNING: {RunStatus.SUCCEEDED, RunStatus.FAILED},
    RunStatus.CANCELLING: {RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED},
}


def _schedule(run: Run, seconds: float | None) -> None:
    when = None if seconds is None else timezone.now() + timedelta(seconds=seconds)
    Run.objects.filter(pk=run.pk).update(next_poll_at=when)


def _log(run: Run, step: RunStep, message: str, *, kind=RunEvent.Kind.LOG) -> None:
    RunEvent.objects.create(run=run, step=step, kind=kind, message=f"{step.name}: {message}"[: services.MAX_LOG_LINE])
    logger.info("run %s step %s: %s", run.pk, step.key, message)


def _notify_gate(run: Run, step: RunStep) -> None:
    from apps.notifications.services import notify_gate_waiting

    notify_gate_waiting(run=run, step=step)


# --- cancel and decide ----------------------------------------------------------------


def _step_cancel(run: Run, step: RunStep) -> None:
    """Ask the backend to stop the step's job, if it can be stopped midway;
    otherwise the run stops once the step ends."""
    if not OPERATIONS[step.action].cancellable:
        return  # e.g. an endpoint update: the run stops once it ends
    try:
        OPERATIONS[step.action].cancel(services.backend_for(run), job_of_step(step))
    except BackendError as exc:
        _log(
            run,
            step,
            f"Cancel failed{'' if exc.permanent else ', will retry'}: {exc.message}",
            kind=RunEvent.Kind.ERROR,
        )
        if exc.permanent:
            step_transition(step=step, to=StepStatus.FAILED, message=f"Cancel failed: {exc.message}")
        return
    step_transition(step=step, to=StepStatus.CANCELLING, message="Cancel requested")


def run_cancel_steps(*, run_id) -> None:
    """Worker side of cancelling a template run: the driver sees the run
    cancelling and stops the current step (see ``_step_advance``)."""
    _schedule(Run(pk=run_id), 0)
    run_advance(run_id=run_id)


def step_decide(*, step: RunStep, user: User, approve: bool, comment: str = "") -> RunStep:
    """Release (or reject) a waiting gate. Until the approvals capability
    exists, only portal admins may decide; it will call this same service."""
    if not user.is_portal_admin:
        raise PermissionDenied("Only an admin can release a waiting step.")
    if not step.is_gate or step.status != StepStatus.WAITING:
        raise StepDecisionError(f"The step {step.name!r} is {step.status}, not waiting for a decision.")
    verdict = "Approved" if approve else "Rejected"
    message = f"{verdict} by {user.username}" + (f": {comment}" if comment else "")
    outputs = {"decision": verdict.lower(), "decided_by": user.username, "comment": comment}
    with transaction.atomic():  # the decision and its audit record land together
        moved = step_transition(
            step=step,
            to=StepStatus.SUCCEEDED if approve else StepStatus.FAILED,
            message=message,
            outputs=outputs,
            decided_by=user,
            decided_at=timezone.now(),
        )
        if not moved:
            raise StepDecisionError("Someone else decided first.")
        audit_record(
            actor=user,
            action=f"run.step_{verdict.lower()}",
            target=step.run,
            team=step.run.team,
            data={"step": step.key, "comment": comment},
        )
    _schedule(step.run, 0)  # the poller picks the run up even if the task below is lost
    transaction.on_commit(lambda: services.enqueue("poll_run", step.run_id))
    return step
