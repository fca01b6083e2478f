"""Every write to a run. One function moves a run (``run_transition``), with
a compare-and-swap on its status; every move and log line is a RunEvent."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.accounts.selectors import user_teams
from apps.audit.services import audit_record
from apps.backends import registry
from apps.backends.base import Backend, BackendError, JobState, NotReady
from apps.connections.models import Connection
from apps.connections.selectors import connection_allowed
from apps.connections.services import connection_backend
from apps.core.errors import InvalidInput
from apps.notifications.services import notify_run_finished
from apps.registry.services import version_link_run

from . import steps
from .models import ACTIVE, CANCELLABLE_KINDS, TERMINAL, TRANSITIONS, Run, RunEvent, RunKind, RunStatus
from .operations import OPERATIONS, job_of

logger = logging.getLogger(__name__)

# A run left in "submitting" this long (its worker died) is submitted again;
# the idempotency key makes that safe.
SUBMIT_WATCHDOG = timedelta(minutes=2)
# While a poll is under way the run is not handed to another poller.
POLL_LEASE = timedelta(seconds=60)
MAX_LOG_LINE = 2000


class InvalidTransition(Exception):
    pass


def run_transition(*, run: Run, to: str, message: str = "", **fields) -> bool:
    """Move ``run`` from the status it was read with to ``to``.

    Returns False when another worker moved it first (zero rows updated).
    """
    old = run.status
    if to not in TRANSITIONS.get(old, ()):
        raise InvalidTransition(f"A run cannot go from {old} to {to}.")
    now = timezone.now()
    if to == RunStatus.RUNNING and run.started_at is None:
        fields["started_at"] = now
    if to in TERMINAL:
        fields.update(finished_at=now, next_poll_at=None)
        if to == RunStatus.SUCCEEDED:
            fields["progress"] = 100.0
    if message and "status_message" not in fields:
        fields["status_message"] = message
    with transaction.atomic():
        if not Run.objects.filter(pk=run.pk, status=old).update(status=to, updated_at=now, **fields):
            return False
        RunEvent.objects.create(run=run, kind=RunEvent.Kind.TRANSITION, from_status=old, to_status=to, message=message)
        run.status = to
        for name, value in fields.items():
            setattr(run, name, value)
        if to in TERMINAL:
            notify_run_finished(run=run)
        if to == RunStatus.SUCCEEDED:
            version_link_run(run=run)  # a version the run registered shows in Models at once
    return True


def run_create(
    *,
    user: User,
    kind: str,
    params: dict,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    name: str = "",
) -> Run:
    team = _check_can_start(user=user, team=team)
    if kind not in RunKind.values or kind == RunKind.TEMPLATE:
        raise InvalidInput.one("kind", f"Unknown kind {kind!r}. Choose one of {', '.join(RunKind.values)}.")
    backend = _check_backend(backend=backend, connection=connection, team=team)
    if not isinstance(params, dict):
        raise InvalidInput.one("params", "Must be an object.")
    if errors := OPERATIONS[kind].validate(params) or OPERATIONS[kind].validate_for(params, backend_kind=backend):
        raise InvalidInput({"params": errors})

    run_id = uuid.uuid4()
    with transaction.atomic():
        run = Run.objects.create(
            id=run_id,
            team=team,
            created_by=user,
            kind=kind,
            backend=backend,
            connection=connection,
            params=params,
            name=name[:200] or _default_name(kind, params),
            # Derived from the run, and valid as a SageMaker job name and a Databricks token.
            idempotency_key=f"atr-{run_id.hex}",
        )
        RunEvent.objects.create(
            run=run, kind=RunEvent.Kind.TRANSITION, to_status=RunStatus.PENDING, message=f"Created by {user.username}"
        )
        transaction.on_commit(lambda: enqueue("submit_run", run.pk))
    return run


def template_run_create(
    *,
    user: User,
    version,
    params: dict,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    name: str = "",
    retry_of: Run | None = None,
) -> Run:
    """A run of a template version: one step per template step. The caller
    has validated ``params`` against the version's schema."""
    team = _check_can_start(user=user, team=team)
    backend = _check_backend(backend=backend, connection=connection, team=team)
    reuse = _reusable_steps(retry_of) if retry_of else {}
    run_id = uuid.uuid4()
    with transaction.atomic():
        run = Run.objects.create(
            id=run_id,
            team=team,
            created_by=user,
            kind=RunKind.TEMPLATE,
            backend=backend,
            connection=connection,
            params=params,
            name=name[:200] or f"{version.template.name} v{version.number}"[:200],
            idempotency_key=f"atr-{run_id.hex}",
            template_version=version,
            retry_of=retry_of,
        )
        steps.steps_create(run=run, steps=version.steps, reuse=reuse)
        origin = f"Retry of run {str(retry_of.pk)[:8]} by" if retry_of else "Created by"
        RunEvent.objects.create(
            run=run, kind=RunEvent.Kind.TRANSITION, to_status=RunStatus.PENDING, message=f"{origin} {user.username}"
        )
        transaction.on_commit(lambda: enqueue("submit_run", run.pk))
    return run


def _reusable_steps(run: Run) -> dict:
    """The steps of ``run`` that succeeded before the first one that did not:
    a retry carries them over instead of redoing them."""
    reusable = {}
    for step in run.steps.order_by("position"):
        if step.status != "succeeded":
            break
        reusable[step.key] = step
    return reusable


def run_retry(*, run: Run, user: User) -> Run:
    """Retry a failed or cancelled template run from its first unfinished
    step, with the same version, inputs and backend, as a new linked run."""
    if run.kind != RunKind.TEMPLATE or run.template_version_id is None:
        raise InvalidInput.one("kind", "Only template runs can be retried from a step; start a new run instead.")
    if run.status not in {RunStatus.FAILED, RunStatus.CANCELLED}:
        raise InvalidInput.one("status", f"The run is {run.status}; only a failed or cancelled run can be retried.")
    return template_run_create(
        user=user,
        version=run.template_version,
        params=run.params,
        backend=run.backend,
        connection=run.connection,
        team=run.team,
        name=run.name,
        retry_of=run,
    )


def _check_can_start(*, user: User, team: Team | None) -> Team:
    if not user.has_perm("runs.add_run"):
        raise PermissionDenied("Your role cannot start runs.")
    return _team_for(user=user, team=team)


def _default_name(kind: str, params: dict) -> str:
    subject = params.get("model_name") or params.get("endpoint") or params.get("name") or ""
    return f"{RunKind(kind).label} {subject}".strip()[:200]


def _check_backend(*, backend: str, connection: Connection | None, team: Team) -> str:
    """The backend kind to use: the connection's, or a kind that needs none."""
    if connection is not None:
        if not connection_allowed(connection=connection, team=team):
            raise InvalidInput.one("connection", f"Team {team.name} may not use the connection {connection.name}.")
        backend = connection.kind
    if backend not in registry.available_kinds():
        raise InvalidInput.one("backend", f"Unknown backend {backend!r}.")
    if backend in registry.NEEDS_CONNECTION and connection is None:
        raise InvalidInput.one("connection", f"Choose a {registry.LABELS[backend]} connection.")
    return backend


def backend_for(run: Run) -> Backend:
    if run.connection_id:
        return connection_backend(run.connection)
    return registry.get_backend(run.backend)


def _team_for(*, user: User, team: Team | None) -> Team:
    teams = user_teams(user=user)
    if team is None:
        team = teams.first()
        if team is None:
            raise InvalidInput.one("team", "You are not in any team.")
    elif not teams.filter(pk=team.pk).exists():
        raise InvalidInput.one("team", "You are not a member of that team.")
    return team


def enqueue(task_name: str, run_id) -> None:
    from . import tasks

    getattr(tasks, task_name).delay(str(run_id))


def run_submit(*, run_id) -> None:
    """Hand the run to its backend. Safe to call again for the same run."""
    run = Run.objects.select_related("team", "connection").get(pk=run_id)
    if run.kind == RunKind.TEMPLATE:
        steps.run_advance(run_id=run.pk)
        return
    if run.status == RunStatus.PENDING:
        watchdog = timezone.now() + SUBMIT_WATCHDOG
        if not run_transition(run=run, to=RunStatus.SUBMITTING, message="Submitting", next_poll_at=watchdog):
            return
    elif not (run.status == RunStatus.SUBMITTING or (run.status == RunStatus.CANCELLING and not run.external_id)):
        return  # already submitted: a redelivered task has nothing to do
    backend = backend_for(run)
    try:
        external_id = OPERATIONS[run.kind].submit(backend, job_of(run))  # no transaction open here
    except NotReady as waiting:  # not an attempt: the beat submits again at the polling pace
        run_wait(run=run, message=waiting.message)
        return
    except BackendError:
        Run.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1)
        raise
    Run.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1)
    next_poll = timezone.now() + timedelta(seconds=settings.RUN_POLL_SECONDS)
    if run_transition(
        run=run,
        to=RunStatus.RUNNING,
        message=f"Submitted as {external_id}",
        external_id=external_id,
        next_poll_at=next_poll,
    ):
        return
    run.refresh_from_db()
    if run.status == RunStatus.CANCELLING:  # cancelled while we were submitting
        Run.objects.filter(pk=run.pk).update(external_id=external_id, next_poll_at=timezone.now())
        run.external_id = external_id
        OPERATIONS[run.kind].cancel(backend, job_of(run))


def run_wait(*, run: Run, message: str, step=None) -> None:
    """The backend is preparing something: poll again soon, and say so once
    (not at every poll) in the log."""
    Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now() + timedelta(seconds=settings.RUN_POLL_SECONDS))
    last = RunEvent.objects.filter(run=run).order_by("-id").values_list("message", flat=True).first()
    if last != message:
        RunEvent.objects.create(run=run, step=step, kind=RunEvent.Kind.LOG, message=message[:MAX_LOG_LINE])


def run_fail(*, run_id, message: str) -> None:
    run = Run.objects.get(pk=run_id)
    if run.status in TERMINAL:
        return
    run_transition(run=run, to=RunStatus.FAILED, message=message)


def run_poll(*, run_id) -> None:
    run = Run.objects.select_related("connection").get(pk=run_id)
    if run.kind == RunKind.TEMPLATE:
        steps.run_advance(run_id=run.pk)
        return
    if run.status not in {RunStatus.RUNNING, RunStatus.CANCELLING} or not run.external_id:
        return
    backend = backend_for(run)
    try:
        job = OPERATIONS[run.kind].poll(backend, job_of(run))
    except BackendError as exc:
        if exc.permanent:
            run_transition(run=run, to=RunStatus.FAILED, message=exc.message)
        else:  # the backend is unreachable for now: poll again later, the job goes on
            _log(run, f"Poll failed, will retry: {exc.message}", kind=RunEvent.Kind.ERROR)
            Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now() + timedelta(seconds=10))
        return
    _record_progress(run, job)
    if job.state.is_terminal:
        _finish(run, job)


def _record_progress(run: Run, job) -> None:
    if job.logs:
        RunEvent.objects.bulk_create(
            [RunEvent(run=run, kind=RunEvent.Kind.LOG, message=line[:MAX_LOG_LINE]) for line in job.logs]
        )
    next_poll = timezone.now() + timedelta(seconds=settings.RUN_POLL_SECONDS)
    Run.objects.filter(pk=run.pk, status=run.status).update(
        progress=job.progress,
        log_cursor=job.log_cursor,
        next_poll_at=next_poll,
        status_message=job.message or run.status_message,
        updated_at=timezone.now(),
    )


def _finish(run: Run, job) -> None:
    if job.state == JobState.SUCCEEDED:
        run_transition(run=run, to=RunStatus.SUCCEEDED, message="Succeeded", outputs=job.outputs)
    elif job.state == JobState.CANCELLED and run.status == RunStatus.CANCELLING:
        run_transition(run=run, to=RunStatus.CANCELLED, message="Cancelled", outputs=job.outputs)
    else:
        reason = job.message or ("Cancelled outside the portal" if job.state == JobState.CANCELLED else "Failed")
        run_transition(run=run, to=RunStatus.FAILED, message=reason, outputs=job.outputs)


def run_cancel(*, run: Run, user: User) -> Run:
    if not user.has_perm("runs.change_run"):
        raise PermissionDenied("Your role cannot cancel runs.")
    if run.status in {RunStatus.SUBMITTING, RunStatus.RUNNING} and run.kind not in CANCELLABLE_KINDS:
        raise InvalidInput.one("status", f"A {run.get_kind_display().lower()} run cannot be cancelled once started.")
    with transaction.atomic():  # the cancel and its audit record land together
        moved = _cancel_move(run=run, user=user)
        if moved:
            audit_record(actor=user, action="run.cancel", target=run, team=run.team, data={"kind": run.kind})
    if not moved:
        run.refresh_from_db()
        if run.status not in {RunStatus.CANCELLING, RunStatus.CANCELLED}:
            raise InvalidInput.one("status", f"The run is {run.status} and cannot be cancelled.")
    return run


def _cancel_move(*, run: Run, user: User) -> bool:
    if run.status == RunStatus.PENDING:
        moved = run_transition(run=run, to=RunStatus.CANCELLED, message=f"Cancelled by {user.username}")
        if moved:
            steps.steps_abandon(run=run)
        return moved
    if run.status in {RunStatus.SUBMITTING, RunStatus.RUNNING}:
        moved = run_transition(run=run, to=RunStatus.CANCELLING, message=f"Cancel requested by {user.username}")
        if moved:
            transaction.on_commit(lambda: enqueue("cancel_run", run.pk))
        return moved
    return False


def run_cancel_backend(*, run_id) -> None:
    """Worker side of a cancel: stop the job, then poll at once to see it end."""
    run = Run.objects.select_related("connection").get(pk=run_id)
    if run.kind == RunKind.TEMPLATE:
        steps.run_cancel_steps(run_id=run.pk)
        return
    if run.status != RunStatus.CANCELLING or not run.external_id:
        return  # not submitted yet: run_submit cancels right after submitting
    OPERATIONS[run.kind].cancel(backend_for(run), job_of(run))
    Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now())
    run_poll(run_id=run.pk)


def runs_claim_due(*, limit: int = 200) -> list[tuple[str, str]]:
    """Claim the runs whose poll is due, with a lease so that no other beat
    tick hands them out twice. Returns (run id, task to enqueue)."""
    now = timezone.now()
    due = Run.objects.filter(status__in=ACTIVE, next_poll_at__lte=now)
    due = due.values_list("pk", "external_id", "next_poll_at")[:limit]
    claimed = []
    for pk, external_id, next_poll_at in due:
        if Run.objects.filter(pk=pk, next_poll_at=next_poll_at).update(next_poll_at=now + POLL_LEASE):
            task = "poll_run" if external_id else "submit_run"
            claimed.append((str(pk), task))
    return claimed


def _log(run: Run, message: str, *, kind=RunEvent.Kind.LOG) -> None:
    RunEvent.objects.create(run=run, kind=kind, message=message[:MAX_LOG_LINE])
    logger.info("run %s: %s", run.pk, message)
