"""What follows a decision: the registry write-back, then the deployment;
retries, rejections written back, and the beat's sweep (expiry, reminders,
approvals a dead worker left)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.deployments.services import deployment_start
from apps.notifications.models import Notification
from apps.notifications.services import notify_users
from apps.registry.services import (
    WriteFailed,
    version_record_promotion,
    version_record_rejection,
)

from . import services
from .models import Decision, PromotionRequest, Status, WriteBack
from .rules import eligible_approvers, retry_refusal

logger = logging.getLogger(__name__)

# A claim on applying an approval that is older than this belongs to a worker that died.
APPLY_STALE = timedelta(minutes=10)
REMIND_BEFORE = timedelta(days=1)


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
    if refusal := retry_refusal(user=user, request=request):
        raise PermissionDenied(refusal)
    with transaction.atomic():
        moved = PromotionRequest.objects.filter(
            pk=request.pk, status=Status.APPROVED, write_back=WriteBack.FAILED
        ).update(write_back=WriteBack.NOT_YET, updated_at=timezone.now())
        if not moved:
            raise Conflict("Only an approved request whose write-back or deployment failed can be retried.")
        audit_record(actor=user, action="promotion.retried", target=request, team=request.team)
        transaction.on_commit(lambda: services.enqueue_apply(request.pk))
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
        services.enqueue_apply(pk)
    return {"expired": len(expired), "reminded": reminded, "resumed": len(stale)}
