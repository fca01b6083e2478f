"""Every write to promotion requests: asking (with the evidence collected at
once), withdrawing and deciding. What follows a decision is ``outcomes``;
policies are ``policies``; who may do what is ``rules``. The HTML views, the
API and the tasks all call these.

The decision that completes a quorum wins under a row lock: the request moves
from pending to approved exactly once, so however many approvers click at
the same moment there is one write-back and one deployment. Network calls
(the registry, the deployment's backend) happen after commit, in a task that
claims the request first (``promotion_apply``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.deployments.services import deployment_validate
from apps.notifications.models import Notification
from apps.notifications.services import notify_users
from apps.registry import selectors as registry_selectors
from apps.runs.models import RunKind
from apps.runs.services import gate_release, plan_run_create

from . import evidence
from .models import CheckStatus, Decision, Environment, PromotionRequest, Status
from .policies import policy_current
from .rules import REQUEST, decide_refusal, eligible_approvers, member

logger = logging.getLogger(__name__)

# --- requests -----------------------------------------------------------------------


def _deployment_checked(*, user: User, version, deployment) -> dict:
    """The requested deployment, checked as the deployment service will check
    it (400 with errors under ``deployment.``) and normalised; {} for none."""
    if deployment in (None, {}):
        return {}
    if not isinstance(deployment, dict):
        raise InvalidInput.one("deployment", "An object: endpoint, target, instance_count, rollout.")
    model = version.model
    unknown = set(deployment) - {"connection", "endpoint", "target", "instance_type", "instance_count", "rollout"}
    if unknown:
        raise InvalidInput.one("deployment", f"Unknown field {', '.join(sorted(unknown))}.")
    asked = deployment.get("connection")
    if asked not in (None, "", "local") and str(asked) not in {
        str(model.connection_id),
        model.connection.name if model.connection_id else "",
    }:
        raise InvalidInput.one(
            "deployment.connection",
            "A version deploys where its registry lives: "
            + (f"the connection {model.connection.name!r}." if model.connection_id else "the local backend."),
        )
    try:
        _, _, candidate, settings = deployment_validate(
            user=user,
            endpoint=deployment.get("endpoint"),
            model_name=model.name,
            model_version=version.version,
            backend=model.backend,
            connection=model.connection,
            team=model.team,
            target=deployment.get("target") or ("" if deployment.get("instance_type") else "cpu"),
            instance_type=deployment.get("instance_type") or "",
            instance_count=deployment.get("instance_count", 1),
            rollout=deployment.get("rollout"),
        )
    except InvalidInput as exc:
        raise InvalidInput(
            {f"deployment.{k}" if not k.startswith("deployment") else k: v for k, v in exc.errors.items()}
        ) from None
    hardware = (
        {"instance_type": candidate["instance_type"]}
        if "instance_type" in candidate
        else {"target": candidate["target"]}
    )
    return {
        "endpoint": deployment["endpoint"],
        "connection": str(model.connection_id) if model.connection_id else None,
        **hardware,
        "instance_count": candidate["instance_count"],
        "rollout": settings,
    }


def promotion_request(
    *, user: User, version, environment: str, deployment: dict | None = None, reason: str = ""
) -> PromotionRequest:
    """Ask for ``version`` to be promoted to the team's ``environment`` (and
    deployed as ``deployment`` says once approved). Collects the evidence at
    once and tells the approvers. One open request per version and environment."""
    if not user.has_perm(REQUEST):
        raise PermissionDenied("Your role cannot request promotions.")
    model = version.model
    if model.team_id is None or not member(user, [model.team_id]):
        raise PermissionDenied("Only the model's team can request its promotion.")
    if version.deleted_upstream or version.archived:
        raise InvalidInput.one("model_version", "This version is archived or deleted: it cannot be promoted.")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput.one("reason", "At most 2,000 characters.")
    env = Environment.objects.filter(
        team_id=model.team_id, name=environment if isinstance(environment, str) else ""
    ).first()
    if env is None:
        names = ", ".join(Environment.objects.filter(team_id=model.team_id).values_list("name", flat=True))
        raise InvalidInput.one(
            "environment",
            f"No environment {environment!r} for team {model.team}." + (f" One of {names}." if names else ""),
        )
    policy = policy_current(env)
    champion = registry_selectors.alias_holder(model=model, alias=env.name)
    if champion is not None and champion.pk == version.pk:
        raise InvalidInput.one("model_version", f"Version {version.version} already holds {env.name}.")
    checked = _deployment_checked(user=user, version=version, deployment=deployment)
    with transaction.atomic():  # the request, its evidence run and its notices land together, or nothing
        try:
            with transaction.atomic():
                request = PromotionRequest.objects.create(
                    team_id=model.team_id,
                    environment=env,
                    policy=policy,
                    model_version=version,
                    champion=champion,
                    requested_by=user,
                    reason=reason.strip(),
                    deployment=checked,
                    expires_at=timezone.now() + timedelta(days=policy.expiry_days),
                )
        except IntegrityError:
            raise Conflict(f"Version {version.version} already has an open request for {env.name}.") from None
        evidence_start(request, user)
        request_opened(request, user, what=f"promote {model.name} v{version.version} to {env.name}")
    return request


def evidence_start(request: PromotionRequest, user: User) -> None:
    """The evidence pack: a pending row per check, and the run that fills them."""
    version = request.model_version
    model = version.model
    evidence.checks_create(request)
    run = plan_run_create(
        user=user,
        kind=RunKind.EVIDENCE,
        steps=evidence.evidence_steps(request),
        team=request.team,
        backend=model.backend,
        connection=model.connection,
        name=f"Evidence: {model.name} v{version.version} to {request.environment.name}",
        params={"request_id": str(request.pk), "model_name": model.name, "environment": request.environment.name},
    )
    PromotionRequest.objects.filter(pk=request.pk).update(evidence_run=run)
    request.evidence_run = run


def request_opened(request: PromotionRequest, user: User, *, what: str) -> None:
    """The audit record of a new request, and its notice to every eligible approver."""
    policy = request.policy
    audit_record(
        actor=user,
        action="promotion.requested",
        target=request,
        team=request.team,
        data={
            "version": request.model_version.version if request.model_version_id else None,
            "environment": request.environment.name,
            "policy_version": policy.version,
            **({"gate": str(request.gate_step_id)} if request.gate_step_id else {}),
        },
    )
    quorum = f"{policy.approvals_required} approval" + ("s" if policy.approvals_required > 1 else "")
    notify_users(
        users=eligible_approvers(request),
        level=Notification.Level.ACTION,
        message=f"{user.username} asks to {what} ({quorum} needed).",
        url=request.get_absolute_url(),
        subject=f"[Atrium] To decide: {what}",
    )


def promotion_withdraw(*, user: User, request: PromotionRequest) -> PromotionRequest:
    if request.requested_by_id != user.pk and not user.is_portal_admin:
        raise PermissionDenied("Only the person who asked can withdraw a request.")
    if request.gate_step_id:
        raise Conflict("This request releases a run's approval step: cancel the run instead.")
    with transaction.atomic():
        moved = PromotionRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
            status=Status.WITHDRAWN, decided_at=timezone.now(), updated_at=timezone.now()
        )
        if not moved:
            request.refresh_from_db()
            raise Conflict(f"The request is {request.get_status_display().lower()}: it can no longer be withdrawn.")
        audit_record(actor=user, action="promotion.withdrawn", target=request, team=request.team)
    request.refresh_from_db()
    return request


# --- decisions ----------------------------------------------------------------------


def _blocking_checks(request: PromotionRequest) -> str:
    """Why the evidence does not allow approval yet ('' when it does): a required check failed or is missing."""
    required = list(request.checks.filter(required=True).values_list("label", "status"))
    failed = [label for label, status in required if status in {CheckStatus.FAILED, CheckStatus.ERROR}]
    if failed:
        return f"A check the policy requires did not pass: {', '.join(failed)}. Reject it, or ask for a new version."
    collecting = [label for label, status in required if status == CheckStatus.PENDING]
    if collecting:
        return f"The evidence the policy requires is still being collected: {', '.join(collecting)}."
    return ""


def promotion_decide(*, user: User, request: PromotionRequest, decision: str, comment: str = "") -> PromotionRequest:
    """One approver's decision. Any rejection rejects; the approval that
    reaches the quorum approves, and the write-back and deployment follow."""
    if decision not in Decision.Verdict.values:
        raise InvalidInput.one("decision", "Either approve or reject.")
    comment = comment.strip() if isinstance(comment, str) else ""
    if decision == Decision.Verdict.REJECT and not comment:
        raise InvalidInput.one("comment", "Say why you reject it: the requester reads this.")
    if len(comment) > 2000:
        raise InvalidInput.one("comment", "At most 2,000 characters.")
    if refusal := decide_refusal(user=user, request=request):
        raise PermissionDenied(refusal)
    if _expired_now(request):
        raise Conflict("The request expired: it can no longer be decided.")
    with transaction.atomic():
        locked = (
            PromotionRequest.objects.select_for_update(of=("self",))
            .select_related("gate_step__run__team")
            .get(pk=request.pk)
        )
        if locked.status != Status.PENDING:
            raise Conflict(f"The request is {locked.get_status_display().lower()}: it can no longer be decided.")
        if Decision.objects.filter(request=locked, approver=user).exists():
            raise Conflict("You have already decided this request.")
        if decision == Decision.Verdict.APPROVE and (blocked := _blocking_checks(locked)):
            raise Conflict(blocked)
        Decision.objects.create(request=locked, approver=user, verdict=decision, comment=comment)
        approvals = locked.decisions.filter(verdict=Decision.Verdict.APPROVE).count()
        needed = locked.policy.approvals_required
        outcome = ""
        if decision == Decision.Verdict.REJECT:
            outcome = Status.REJECTED
        elif approvals >= needed:
            outcome = Status.APPROVED
        if outcome:
            PromotionRequest.objects.filter(pk=locked.pk).update(
                status=outcome, decided_at=timezone.now(), updated_at=timezone.now()
            )
        audit_record(
            actor=user,
            action=f"promotion.{'approved' if decision == Decision.Verdict.APPROVE else 'rejected'}",
            target=locked,
            team=locked.team,
            data={"comment": comment, "approvals": approvals, "required": needed, "outcome": outcome or "pending"},
        )
        _tell_requester(locked, user, decision, comment, approvals, needed, outcome)
        if outcome and locked.gate_step_id:  # a template's gate: the run goes on (or fails) with it
            gate_release(step=locked.gate_step, user=user, approve=outcome == Status.APPROVED, comment=comment)
        elif outcome == Status.APPROVED:
            transaction.on_commit(lambda: enqueue_apply(locked.pk))
        elif outcome == Status.REJECTED:
            transaction.on_commit(lambda: _enqueue_record_rejection(locked.pk, user.pk))
    request.refresh_from_db()
    return request


def _tell_requester(request, user, decision, comment, approvals, needed, outcome) -> None:
    version = request.model_version
    what = (
        f"{version.model.name} v{version.version} to {request.environment.name}"
        if version
        else f"the run's gate ({request.environment.name})"
    )
    if outcome == Status.APPROVED:
        then = (
            "The run goes on."
            if request.gate_step_id
            else "Writing it to the registry" + (", then deploying." if request.deployment else ".")
        )
        message, level = f"Approved: {what}. {then}", Notification.Level.SUCCESS
    elif outcome == Status.REJECTED:
        message, level = f"Rejected by {user.username}: {what}: {comment}", Notification.Level.ERROR
    else:
        message, level = f"{user.username} approved {what} ({approvals} of {needed}).", Notification.Level.INFO
    notify_users(
        users=[request.requested_by],
        level=level,
        message=message,
        url=request.get_absolute_url(),
        subject=f"[Atrium] {message[:120]}",
    )


def _expired_now(request: PromotionRequest) -> bool:
    """A pending request past its time is expired at once (the sweep may not have run yet)."""
    now = timezone.now()
    expired = PromotionRequest.objects.filter(pk=request.pk, status=Status.PENDING, expires_at__lte=now).update(
        status=Status.EXPIRED, decided_at=now, updated_at=now
    )
    return bool(expired)


# --- what follows an approval ---------------------------------------------------------


def enqueue_apply(request_id) -> None:
    # By name: the tasks module calls these services (no import cycle).
    current_app.send_task("apps.approvals.tasks.apply_promotion", args=[str(request_id)])


def _enqueue_record_rejection(request_id, user_id) -> None:
    current_app.send_task("apps.approvals.tasks.record_rejection", args=[str(request_id), user_id])
