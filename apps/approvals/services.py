"""Every write to promotions: environments and their policies, requests,
decisions, and what follows a decision (the registry write-back, then the
deployment). The HTML views, the API and the tasks all call these.

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
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.deployments.services import deployment_start, deployment_validate
from apps.notifications.models import Notification
from apps.notifications.services import notify_users
from apps.registry import selectors as registry_selectors
from apps.registry.services import (
    WriteFailed,
    version_link_step,
    version_record_promotion,
    version_record_rejection,
)
from apps.runs.models import RunKind
from apps.runs.services import gate_release, plan_run_create

from . import evidence
from .models import CheckStatus, Decision, Environment, Policy, PromotionRequest, Status, WriteBack

logger = logging.getLogger(__name__)

VIEW = "approvals.view_promotionrequest"
REQUEST = "approvals.add_promotionrequest"
DECIDE = "approvals.decide_promotionrequest"
ADMINISTER = "approvals.change_environment"
DECIDE_CODENAME = DECIDE.split(".")[1]

# A claim on applying an approval that is older than this belongs to a worker that died.
APPLY_STALE = timedelta(minutes=10)
REMIND_BEFORE = timedelta(days=1)


# --- permissions --------------------------------------------------------------------


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot see promotions.")


def _member(user: User, team_ids) -> bool:
    return user.is_portal_admin or user.teams.filter(pk__in=list(team_ids)).exists()


def approver_team_ids(request: PromotionRequest) -> list:
    """Whose members may approve: the policy's named teams, else the request's team."""
    named = list(request.policy.approver_teams.values_list("pk", flat=True))
    return named or [request.team_id]


def decide_refusal(*, user: User, request: PromotionRequest) -> str:
    """Why ``user`` may not decide ``request`` ('' when they may): the role,
    the teams the policy names, and separation of duties."""
    if not user.has_perm(DECIDE):
        return "Only approvers decide promotions."
    if request.requested_by_id == user.pk:
        return "You requested this promotion: someone else must decide it (separation of duties)."
    if not _member(user, approver_team_ids(request)):
        return "The policy names other teams as this environment's approvers."
    return ""


def eligible_approvers(request: PromotionRequest) -> list[User]:
    """Everyone who may decide the request: approvers of the named teams, never the requester."""
    users = (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename=DECIDE_CODENAME, groups__permissions__content_type__app_label="approvals")
            | Q(is_superuser=True)
        )
        .filter(Q(teams__in=approver_team_ids(request)) | Q(is_superuser=True))
        .exclude(pk=request.requested_by_id)
        .distinct()
    )
    return list(users)


# --- environments and policies ----------------------------------------------------------

POLICY_FIELDS = ("approvals_required", "expiry_days", "checks", "sensitive_column")


def _policy_errors(approvals_required, expiry_days, checks, sensitive_column) -> dict:
    errors: dict = {}
    if (
        isinstance(approvals_required, bool)
        or not isinstance(approvals_required, int)
        or not 1 <= approvals_required <= 10
    ):
        errors["approvals_required"] = ["A whole number from 1 to 10."]
    if isinstance(expiry_days, bool) or not isinstance(expiry_days, int) or not 1 <= expiry_days <= 90:
        errors["expiry_days"] = ["A whole number of days from 1 to 90."]
    if not isinstance(sensitive_column, str) or len(sensitive_column) > 200:
        errors["sensitive_column"] = ["A column name of at most 200 characters, or empty."]
    if not isinstance(checks, dict):
        errors["checks"] = ["An object of check: settings."]
        return errors
    for key, settings in checks.items():
        check = evidence.CHECKS.get(key)
        if check is None:
            errors[f"checks.{key}"] = [f"Unknown check. One of {', '.join(evidence.CHECKS)}."]
            continue
        if not isinstance(settings, dict):
            errors[f"checks.{key}"] = ["An object of setting: value."]
            continue
        for name, value in settings.items():
            if name == "required":
                if not isinstance(value, bool):
                    errors[f"checks.{key}.required"] = ["true or false."]
            elif name not in check.settings:
                known = ", ".join(["required", *check.settings]) or "required"
                errors[f"checks.{key}.{name}"] = [f"Unknown setting. One of {known}."]
            elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                errors[f"checks.{key}.{name}"] = ["A number, 0 or more (or null for none)."]
    return errors


def environment_save(
    *,
    user: User,
    team: Team,
    name: str,
    description: str = "",
    approvals_required: int = 1,
    approver_teams: list[Team] | None = None,
    expiry_days: int = 7,
    checks: dict | None = None,
    sensitive_column: str = "",
) -> Environment:
    """Create an environment, or change its policy: every change is a new
    policy version (requests keep the version they were judged under)."""
    if not user.has_perm(ADMINISTER):
        raise PermissionDenied("Only admins change environments and their policies.")
    from apps.registry.services import ALIAS, RESERVED_ALIAS  # the environment's name is the alias it sets

    name = (name or "").strip() if isinstance(name, str) else ""
    checks = {} if checks is None else checks
    errors = _policy_errors(approvals_required, expiry_days, checks, sensitive_column)
    if not ALIAS.match(name) or RESERVED_ALIAS.match(name):
        errors["name"] = ["Letters, digits and '_', starting with a letter (it becomes the registry alias)."]
    if not isinstance(description, str) or len(description) > 300:
        errors["description"] = ["At most 300 characters."]
    if errors:
        raise InvalidInput(errors)
    approver_teams = list(approver_teams or [])
    with transaction.atomic():
        environment, created = Environment.objects.select_for_update().get_or_create(
            team=team, name=name, defaults={"description": description}
        )
        if not created and environment.description != description:
            Environment.objects.filter(pk=environment.pk).update(description=description)
        current = environment.policies.order_by("-version").first()
        wanted = {
            "approvals_required": approvals_required,
            "expiry_days": expiry_days,
            "checks": checks,
            "sensitive_column": sensitive_column.strip(),
        }
        same = current is not None and all(getattr(current, f) == wanted[f] for f in POLICY_FIELDS)
        if same and set(current.approver_teams.values_list("pk", flat=True)) == {t.pk for t in approver_teams}:
            return environment
        policy = Policy.objects.create(
            environment=environment, version=(current.version + 1) if current else 1, created_by=user, **wanted
        )
        policy.approver_teams.set(approver_teams)
        audit_record(
            actor=user,
            action="environment.created" if created else "environment.policy_changed",
            target=environment,
            team=team,
            data={"policy_version": policy.version, **wanted, "approver_teams": [t.name for t in approver_teams]},
        )
    return environment


def policy_current(environment: Environment) -> Policy:
    policy = environment.policies.order_by("-version").first()
    if policy is None:
        raise Conflict(f"The environment {environment.name!r} has no policy yet: an admin must set one.")
    return policy


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
    if model.team_id is None or not _member(user, [model.team_id]):
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
        _evidence_start(request, user)
        _opened(request, user, what=f"promote {model.name} v{version.version} to {env.name}")
    return request


def _evidence_start(request: PromotionRequest, user: User) -> None:
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


def _opened(request: PromotionRequest, user: User, *, what: str) -> None:
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
        _evidence_start(request, run.created_by)
    subject = f"{version.model.name} v{version.version}" if request.model_version_id else f"the run “{run}”"
    _opened(request, run.created_by, what=f"release {subject} at “{step.name}” ({env.name})")
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
            transaction.on_commit(lambda: _enqueue_apply(locked.pk))
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


def _enqueue_apply(request_id) -> None:
    # By name: the tasks module calls these services (no import cycle).
    current_app.send_task("apps.approvals.tasks.apply_promotion", args=[str(request_id)])


def _enqueue_record_rejection(request_id, user_id) -> None:
    current_app.send_task("apps.approvals.tasks.record_rejection", args=[str(request_id), user_id])


def promotion_apply(*, request_id) -> PromotionRequest | None:
    """The registry write-back, then the deployment: once per approval. The
    request is claimed first (compare-and-swap), so a redelivered task or a
    second worker does nothing; nothing is deployed unless the write-back
    went through. A failure leaves the request approved-but-not-applied with
    the reason, for a person to retry."""
    now = timezone.now()
    claimed = (
        PromotionRequest.objects.filter(pk=request_id, status=Status.APPROVED, gate_step__isnull=True)
        .filter(Q(write_back=WriteBack.NOT_YET) | Q(write_back=WriteBack.APPLYING, updated_at__lt=now - APPLY_STALE))
        .update(write_back=WriteBack.APPLYING, write_back_error="", updated_at=now)
    )
    if not claimed:
        return None
    request = PromotionRequest.objects.select_related(
        "model_version__model__connection", "model_version__model__team", "environment", "requested_by", "team"
    ).get(pk=request_id)
    version = request.model_version
    approver = request.decisions.filter(verdict=Decision.Verdict.APPROVE).select_related("approver").last().approver
    try:
        version_record_promotion(
            actor=approver, version=version, alias=request.environment.name, request_id=str(request.pk)
        )
    except WriteFailed as exc:
        return _apply_failed(request, exc.message, what="write-back")
    run = None
    if request.deployment and request.deployment_run_id is None:
        spec = request.deployment
        try:
            with transaction.atomic():
                run = deployment_start(
                    user=request.requested_by,
                    endpoint=spec["endpoint"],
                    model_name=version.model.name,
                    model_version=version.version,
                    backend=version.model.backend,
                    connection=version.model.connection,
                    team=request.team,
                    target=spec.get("target") or "cpu",
                    instance_type=spec.get("instance_type") or "",
                    instance_count=spec.get("instance_count", 1),
                    rollout=spec.get("rollout"),
                )
                PromotionRequest.objects.filter(pk=request.pk).update(deployment_run=run)
        except (InvalidInput, Conflict, PermissionDenied) as exc:
            message = exc.message if hasattr(exc, "message") else str(exc)
            return _apply_failed(
                request, f"Written to the registry, but the deployment could not start: {message}", what="deployment"
            )
    with transaction.atomic():
        PromotionRequest.objects.filter(pk=request.pk).update(write_back=WriteBack.APPLIED, updated_at=timezone.now())
        audit_record(
            actor=approver,
            action="promotion.applied",
            target=request,
            team=request.team,
            data={
                "alias": request.environment.name,
                "version": version.version,
                "deployment_run": str(run.pk) if run else "",
            },
        )
    request.refresh_from_db()
    return request


def _apply_failed(request: PromotionRequest, reason: str, *, what: str) -> PromotionRequest:
    logger.info("promotion %s not applied (%s): %s", request.pk, what, reason)
    with transaction.atomic():
        PromotionRequest.objects.filter(pk=request.pk).update(
            write_back=WriteBack.FAILED, write_back_error=reason[:2000], updated_at=timezone.now()
        )
        audit_record(
            actor=request.requested_by,
            action="promotion.apply_failed",
            target=request,
            team=request.team,
            data={"reason": reason},
        )
        notify_users(
            users=[request.requested_by],
            level=Notification.Level.ERROR,
            message=f"Approved but not applied: {request}: {reason}",
            url=request.get_absolute_url(),
            subject=f"[Atrium] Approved but not applied: {request}",
        )
    request.refresh_from_db()
    return request


def promotion_retry(*, user: User, request: PromotionRequest) -> PromotionRequest:
    """Try an approved request's write-back (and deployment) again after a failure."""
    if request.requested_by_id != user.pk and decide_refusal(user=user, request=request) and not user.is_portal_admin:
        raise PermissionDenied("The requester, an approver or an admin can retry.")
    with transaction.atomic():
        moved = PromotionRequest.objects.filter(
            pk=request.pk, status=Status.APPROVED, write_back=WriteBack.FAILED
        ).update(write_back=WriteBack.NOT_YET, updated_at=timezone.now())
        if not moved:
            raise Conflict("Only an approved request whose write-back or deployment failed can be retried.")
        audit_record(actor=user, action="promotion.retried", target=request, team=request.team)
        transaction.on_commit(lambda: _enqueue_apply(request.pk))
    request.refresh_from_db()
    return request


def promotion_record_rejection(*, request_id, user_id) -> None:
    """A rejection, where the registry keeps an approval status (SageMaker:
    Rejected). Best effort: the portal's decision stands whatever the registry says."""
    request = PromotionRequest.objects.select_related("model_version__model__connection", "team").get(pk=request_id)
    if request.model_version is None:
        return
    try:
        version_record_rejection(
            actor=User.objects.get(pk=user_id), version=request.model_version, request_id=str(request.pk)
        )
    except WriteFailed as exc:
        logger.info("rejection of %s not written to the registry: %s", request.pk, exc.message)


# --- time ----------------------------------------------------------------------------


def promotions_sweep(*, now=None) -> dict:
    """The beat's pass: expire what is past its time, remind approvers a day
    before, and hand approvals a dead worker left mid-apply to a new one."""
    now = now or timezone.now()
    expired = list(
        PromotionRequest.objects.filter(status=Status.PENDING, expires_at__lte=now).select_related(
            "requested_by", "model_version__model", "environment"
        )
    )
    for request in expired:
        with transaction.atomic():
            moved = PromotionRequest.objects.filter(pk=request.pk, status=Status.PENDING).update(
                status=Status.EXPIRED, decided_at=now, updated_at=now
            )
            if moved:
                notify_users(
                    users=[request.requested_by],
                    message=f"Expired without a decision: {request}.",
                    url=request.get_absolute_url(),
                    subject=f"[Atrium] Expired: {request}",
                )
    due = list(
        PromotionRequest.objects.filter(
            status=Status.PENDING, reminded_at__isnull=True, expires_at__lte=now + REMIND_BEFORE, expires_at__gt=now
        ).select_related("policy", "model_version__model", "environment", "team")
    )
    reminded = 0
    for request in due:
        with transaction.atomic():
            if not PromotionRequest.objects.filter(pk=request.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            decided = set(request.decisions.values_list("approver_id", flat=True))
            notify_users(
                users=[u for u in eligible_approvers(request) if u.pk not in decided],
                level=Notification.Level.ACTION,
                message=f"Expires within a day: {request}.",
                url=request.get_absolute_url(),
                subject=f"[Atrium] Expires within a day: {request}",
            )
            reminded += 1
    stale = list(
        PromotionRequest.objects.filter(
            status=Status.APPROVED, write_back=WriteBack.APPLYING, updated_at__lt=now - APPLY_STALE
        ).values_list("pk", flat=True)
    ) + list(
        PromotionRequest.objects.filter(
            status=Status.APPROVED,
            write_back=WriteBack.NOT_YET,
            gate_step__isnull=True,
            decided_at__lt=now - timedelta(minutes=1),
        ).values_list("pk", flat=True)
    )
    for pk in stale:
        _enqueue_apply(pk)
    return {"expired": len(expired), "reminded": reminded, "resumed": len(stale)}
