"""Moving a step or a run: the one compare-and-swap of both (``_swap``), the
moves their state machines allow, and what a plan's steps mean for its run
(``run_derive``). The driver (``engine``) makes these moves; nothing else does,
but a user's cancel."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import (
    ACTIVE,
    STEP_ACTIVE,
    STEP_TERMINAL,
    STEP_TRANSITIONS,
    TERMINAL,
    TRANSITIONS,
    Run,
    RunEvent,
    RunStatus,
    RunStep,
    StepStatus,
)

MAX_LOG_LINE = 2000


class InvalidTransition(Exception):
    """A bug: the engine tried a move its state machine does not have."""


def step_transition(*, step: RunStep, to: str, message: str = "", **fields) -> bool:
    """Move ``step`` from the status it was read with; False if another worker moved it first."""
    old = step.status
    if to not in STEP_TRANSITIONS.get(old, ()):
        raise InvalidTransition(f"A step cannot go from {old} to {to}.")
    now = timezone.now()
    if to in {StepStatus.RUNNING, StepStatus.WAITING} and step.started_at is None:
        fields["started_at"] = now
    if to in STEP_TERMINAL:
        fields["finished_at"] = now
        if to == StepStatus.SUCCEEDED:
            fields["progress"] = 100.0
    if message:
        fields.setdefault("status_message", message[:MAX_LOG_LINE])
    ended = to in STEP_TERMINAL and step.reused_from_id is None
    return _swap(
        step,
        old,
        to,
        now,
        fields,
        event={"run_id": step.run_id, "step": step, "message": f"{step.name}: {message}" if message else step.name},
        # what follows the step's end is owed from the same commit
        then=(lambda: Run.objects.filter(pk=step.run_id).update(effects_pending=True)) if ended else None,
    )


def run_transition(*, run: Run, to: str, message: str = "", **fields) -> bool:
    """Move ``run`` from the status it was read with to ``to``; False when
    another worker moved it first. Only the engine's derivation and a user's
    cancel move a run."""
    old = run.status
    if to not in TRANSITIONS.get(old, ()):
        raise InvalidTransition(f"A run cannot go from {old} to {to}.")
    now = timezone.now()
    if to in ACTIVE and run.started_at is None:
        fields["started_at"] = now
    if to in TERMINAL:
        fields.update(finished_at=now, next_poll_at=None, effects_pending=True)
        if to == RunStatus.SUCCEEDED:
            fields["progress"] = 100.0
    if message:
        fields.setdefault("status_message", message[:MAX_LOG_LINE])
    return _swap(run, old, to, now, fields, event={"run": run, "message": message})


def _swap(obj: Run | RunStep, old: str, to: str, now, fields: dict, *, event: dict, then=None) -> bool:
    """The one compare-and-swap of runs and steps: ``obj`` moves from ``old`` to ``to``
    only if no one moved it first, and the move is recorded in the same transaction."""
    with transaction.atomic():
        if not type(obj).objects.filter(pk=obj.pk, status=old).update(status=to, updated_at=now, **fields):
            return False
        event["message"] = event["message"][:MAX_LOG_LINE]
        RunEvent.objects.create(kind=RunEvent.Kind.TRANSITION, from_status=old, to_status=to, **event)
        if then is not None:
            then()
    obj.status = to
    for name, value in fields.items():
        setattr(obj, name, value)
    return True


def run_derive(status: str, steps: list[RunStep]) -> tuple[str, str]:
    """The status a run in ``status`` has given its steps, and why: the one
    place that says what a plan's state means for the run."""
    if status in TERMINAL:
        return status, ""
    active = next((s for s in steps if s.status in STEP_ACTIVE), None)
    failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
    if active is not None:
        if status == RunStatus.CANCELLING:
            return status, ""
        if active.status == StepStatus.SUBMITTING and status in {RunStatus.PENDING, RunStatus.SUBMITTING}:
            return RunStatus.SUBMITTING, "Submitting"
        return RunStatus.RUNNING, active.status_message or "Running"
    if all(s.status == StepStatus.SUCCEEDED for s in steps):
        return RunStatus.SUCCEEDED, "Succeeded" if len(steps) == 1 else "All steps succeeded"
    if failed is not None:
        return RunStatus.FAILED, _step_reason(failed, steps)
    if any(s.status == StepStatus.CANCELLED for s in steps):
        return RunStatus.CANCELLED, "Cancelled"
    if status == RunStatus.CANCELLING:  # between two steps: nothing runs, nothing more will
        return RunStatus.CANCELLED, "Cancelled"
    if status in {RunStatus.PENDING, RunStatus.SUBMITTING} and all(s.status == StepStatus.PENDING for s in steps):
        return status, ""
    return RunStatus.RUNNING, "Running"


def _step_reason(step: RunStep, steps: list[RunStep]) -> str:
    reason = step.status_message or step.status
    return reason if len(steps) == 1 else f"Step {step.name!r}: {reason}"


def run_refresh(run: Run, steps: list[RunStep]) -> None:
    """Bring the run up to date with its steps: status by ``run_derive``,
    progress, attempts and (one-step runs) the step's job id and outputs."""
    for _ in range(3):  # a lost compare-and-swap means a cancel came in: derive again
        to, message = run_derive(run.status, steps)
        if to == run.status or run_transition(run=run, to=to, message=message, **_run_fields(run, steps, to)):
            break
        run.refresh_from_db()
    if run.status not in TERMINAL:
        Run.objects.filter(pk=run.pk).update(**_run_fields(run, steps, run.status), updated_at=timezone.now())


def _run_fields(run: Run, steps: list[RunStep], status: str) -> dict:
    done = sum(1 for s in steps if s.status == StepStatus.SUCCEEDED)
    current = next((s for s in steps if s.status != StepStatus.SUCCEEDED), None)
    share = current.progress / 100 if current is not None and current.status in STEP_ACTIVE else 0
    fields = {
        "progress": min(100.0, (done + share) / max(len(steps), 1) * 100),
        "attempts": sum(s.attempts for s in steps),
    }
    single = len(steps) == 1 and not run.is_template
    if single:
        fields["external_id"] = steps[0].external_id
    if status not in TERMINAL and share and current.status_message:  # what the backend says now ("Training 40%")
        message = current.status_message if single else f"{current.name}: {current.status_message}"
        fields["status_message"] = message[:MAX_LOG_LINE]
    if status in TERMINAL:
        finished = [s for s in steps if s.status in STEP_TERMINAL]
        fields["outputs"] = steps[0].results if single else {s.key: s.results for s in finished}
    return fields
