"""A catalogue template's approval gate as a request the team's approvers decide."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.notifications.services import notify_users
from apps.registry import selectors as registry_selectors
from apps.registry.services import (
    version_link_step,
)
from apps.runs.models import RunStep

from .models import Environment, PromotionRequest, Status
from .services import evidence_start, request_opened

logger = logging.getLogger(__name__)

# --- template gates -------------------------------------------------------------------


def gate_request_open(*, run, step) -> bool:
    """A template's approval gate began to wait: approvers decide it as a
    request judged by the environment the step names (``environment:`` in its
    input), else the team's ``staging``, else its first environment. False
    (admins decide on the run page, as before) when the team has none."""
    environments = Environment.objects.filter(team_id=run.team_id)
    named = str((step.params or {}).get("environment") or "")
    env = (
        environments.filter(name=named).first()
        if named
        else environments.filter(name="staging").first() or environments.order_by("name").first()
    )
    policy = env.policies.order_by("-version").first() if env else None
    if policy is None:
        return False
    registered = [s for s in run.steps.all() if s.model_name and s.model_version and s.position < step.position]
    if registered:  # in Models now, even if the step's own effect has not run yet (it is idempotent)
        registered[-1].run = run
        version_link_step(registered[-1])
    version = registry_selectors.version_of_run(run=run)
    fields = {
        "team_id": run.team_id,
        "environment": env,
        "policy": policy,
        "requested_by": run.created_by,
        "reason": f"The run “{run}” waits at its approval step “{step.name}”.",
        "gate_step": step,
        "expires_at": timezone.now() + timedelta(days=policy.expiry_days),
    }
    try:
        with transaction.atomic():
            request = PromotionRequest.objects.create(model_version=version, **fields)
    except IntegrityError:  # the version already has an open request there: this one releases the run only
        request = PromotionRequest.objects.create(model_version=None, **fields)
    if request.model_version_id:
        request.champion = registry_selectors.alias_holder(model=version.model, alias=env.name)
        PromotionRequest.objects.filter(pk=request.pk).update(champion=request.champion)
        evidence_start(request, run.created_by)
    # The run's page leads to the request (runs know nothing of approvals: a link is data).
    RunStep.objects.filter(pk=step.pk).update(
        links=[{"label": f"Decided by {env.name}'s approvers under Approvals", "url": request.get_absolute_url()}],
        status_message=f"Waiting for {env.name}'s approvers",
    )
    subject = f"{version.model.name} v{version.version}" if request.model_version_id else f"the run “{run}”"
    request_opened(request, run.created_by, what=f"release {subject} at “{step.name}” ({env.name})")
    notify_users(
        users=[run.created_by],
        message=f"Your run “{run}” waits for {env.name}'s approvers at “{step.name}”.",
        url=request.get_absolute_url(),
        subject=f"[Atrium] {run} waits for approval",
    )
    return True


def gate_step_ended(step) -> None:
    """A gate ended outside a request (an admin decided it on the run page, or
    the run was cancelled): its open request closes with it."""
    if not step.is_gate:
        return
    status = {"succeeded": Status.APPROVED, "failed": Status.REJECTED}.get(step.status, Status.WITHDRAWN)
    PromotionRequest.objects.filter(gate_step=step, status=Status.PENDING).update(
        status=status, decided_at=timezone.now(), updated_at=timezone.now()
    )
