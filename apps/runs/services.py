"""Every write a person makes to a run: start one (a plan of one step, or
a template's steps), retry, cancel, decide a gate. The engine (``engine``)
moves the steps and derives the run's status from them."""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.accounts.selectors import user_teams
from apps.audit.services import audit_record
from apps.backends import registry
from apps.connections.models import Connection
from apps.connections.selectors import CONNECTION_REFUSED, connection_allowed
from apps.core.errors import Conflict, InvalidInput

from .engine import steps_abandon, submit_watchdog
from .models import CANCELLABLE_KINDS, PLAN_KINDS, Run, RunEvent, RunKind, RunStatus, RunStep, StepStatus
from .operations import OPERATIONS
from .transitions import run_transition, step_transition

logger = logging.getLogger(__name__)


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
    if kind not in RunKind.values or kind in PLAN_KINDS:
        single = [k for k in RunKind.values if k not in PLAN_KINDS]
        raise InvalidInput.one("kind", f"Unknown kind {kind!r}. Choose one of {', '.join(single)}.")
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
            name=name.strip()[:200] or _default_name(kind, params),
            # Derived from the run, and valid as a SageMaker job name and a Databricks token.
            idempotency_key=f"atr-{run_id.hex}",
            next_poll_at=timezone.now() + submit_watchdog(),  # the beat starts it if the task below is lost
        )
        # A plan of one step, whose job carries the run's own key.
        RunStep.objects.create(
            run=run,
            position=0,
            key=kind,
            name=RunKind(kind).label,
            action=kind,
            params=params,
            idempotency_key=run.idempotency_key,
        )
        RunEvent.objects.create(
            run=run, kind=RunEvent.Kind.TRANSITION, to_status=RunStatus.PENDING, message=f"Created by {user.username}"
        )
        transaction.on_commit(lambda: enqueue(run.pk))
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
    return plan_run_create(
        user=user,
        kind=RunKind.TEMPLATE,
        steps=version.steps,
        params=params,
        backend=backend,
        connection=connection,
        team=team,
        name=name.strip()[:200] or f"{version.template.name} v{version.number}"[:200],
        template_version=version,
        retry_of=retry_of,
    )


def plan_run_create(
    *,
    user: User,
    kind: str,
    steps: list[dict],
    params: dict,
    name: str,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    template_version=None,
    retry_of: Run | None = None,
) -> Run:
    """A run of several steps (``[{"id", "name", "action", "input"}]``): a
    template's, or a plan a feature app makes (a rollout's stages). Joins the
    caller's transaction; the run starts when it commits."""
    team = _check_can_start(user=user, team=team)
    backend = _check_backend(backend=backend, connection=connection, team=team)
    reuse = _reusable_steps(retry_of) if retry_of else {}
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
            name=name[:200],
            idempotency_key=f"atr-{run_id.hex}",
            template_version=template_version,
            retry_of=retry_of,
            next_poll_at=timezone.now() + submit_watchdog(),
        )
        steps_create(run=run, steps=steps, reuse=reuse)
        origin = f"Retry of run {str(retry_of.pk)[:8]} by" if retry_of else "Created by"
        RunEvent.objects.create(
            run=run, kind=RunEvent.Kind.TRANSITION, to_status=RunStatus.PENDING, message=f"{origin} {user.username}"
        )
        transaction.on_commit(lambda: enqueue(run.pk))
    return run


def steps_create(*, run: Run, steps: list[dict], reuse: dict[str, RunStep] | None = None) -> list[RunStep]:
    """The run's steps from the template's. Steps in ``reuse`` (by key) are
    carried over as succeeded, results and all, without being redone."""
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
    fields = ("params", "outputs", "external_id", "model_name", "model_version", "metrics", "links")
    return {
        "status": StepStatus.SUCCEEDED,
        "status_message": f"Reused from run {str(old.run_id)[:8]}",
        "progress": 100.0,
        "reused_from": old,
        "started_at": old.started_at,
        "finished_at": old.finished_at,
        **{name: getattr(old, name) for name in fields},
    }


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


def run_target_check(
    *, user: User, team: Team | None, backend: str, connection: Connection | None, scope_only: bool = False
) -> tuple[Team, str]:
    """The team and backend kind a run would start with: the one check of who
    may start a run where (the caller's role and team, the connection's teams),
    shared by ``POST /runs/``, a template's launch and its dry-run.
    ``scope_only``: who may use what, before a template's own backend rules."""
    team = _check_can_start(user=user, team=team)
    if connection is not None and not connection_allowed(connection=connection, team=team):
        raise InvalidInput.one("connection", CONNECTION_REFUSED)
    if scope_only:
        return team, connection.kind if connection else backend
    return team, _check_backend(backend=backend, connection=connection, team=team)


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
            raise InvalidInput.one("connection", CONNECTION_REFUSED)
        backend = connection.kind
    if backend not in registry.available_kinds():
        raise InvalidInput.one("backend", f"Unknown backend {backend!r}.")
    if backend in registry.NEEDS_CONNECTION and connection is None:
        raise InvalidInput.one("connection", f"Choose a {registry.LABELS[backend]} connection.")
    return backend


def _team_for(*, user: User, team: Team | None) -> Team:
    teams = user_teams(user=user)
    if team is None:
        team = teams.first()
        if team is None:
            raise InvalidInput.one("team", "You are not in any team.")
    elif not teams.filter(pk=team.pk).exists():
        raise InvalidInput.one("team", "You are not a member of that team.")
    return team


def enqueue(run_id) -> None:
    """Hand the run to a worker (call on commit). With the broker away, the run
    is not lost: it is due (``next_poll_at``), and the beat hands it over once
    the broker is back; the person who started it gets their answer now, not a 500."""
    from kombu.exceptions import OperationalError

    from .tasks import advance_run

    try:
        advance_run.delay(str(run_id))
    except OperationalError as exc:
        logger.warning("run %s: the broker is unreachable (%s); the beat will hand it to a worker", run_id, exc)


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
    if run.status == RunStatus.PENDING:  # nothing started: every step is cancelled with it
        moved = run_transition(run=run, to=RunStatus.CANCELLED, message=f"Cancelled by {user.username}")
        if moved:
            steps_abandon(run=run)
            transaction.on_commit(lambda: enqueue(run.pk))  # what follows an ending (a notification)
        return moved
    if run.status in {RunStatus.SUBMITTING, RunStatus.RUNNING}:
        moved = run_transition(run=run, to=RunStatus.CANCELLING, message=f"Cancel requested by {user.username}")
        if moved:  # the driver stops the current step
            transaction.on_commit(lambda: enqueue(run.pk))
        return moved
    return False


def step_decide(*, step: RunStep, user: User, approve: bool, comment: str = "") -> RunStep:
    """An admin releases (or rejects) a waiting gate from the run page. Gates
    whose team has approval environments are decided by approvers through
    the approvals app, which calls ``gate_release`` itself."""
    if not user.is_portal_admin:
        raise PermissionDenied("Only an admin can release a waiting step here: approvers decide it under Approvals.")
    return gate_release(step=step, user=user, approve=approve, comment=comment)


def gate_release(*, step: RunStep, user: User, approve: bool, comment: str = "") -> RunStep:
    """Move a waiting gate on: approved, the run goes on; rejected, it fails.
    The caller has checked that ``user`` may decide it."""
    if not step.is_gate or step.status != StepStatus.WAITING:
        raise Conflict(f"The step {step.name!r} is {step.status}, not waiting for a decision.")
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
            raise Conflict("Someone else decided first.")
        audit_record(
            actor=user,
            action=f"run.step_{verdict.lower()}",
            target=step.run,
            team=step.run.team,
            data={"step": step.key, "comment": comment},
        )
        # The beat picks the run up even if the task below is lost.
        Run.objects.filter(pk=step.run_id).update(next_poll_at=timezone.now())
    transaction.on_commit(lambda: enqueue(step.run_id))
    return step
