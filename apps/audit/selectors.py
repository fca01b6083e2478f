from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from apps.core.scoping import team_scoped

from .models import AuditEvent

if TYPE_CHECKING:
    from apps.accounts.models import User

VIEW = "audit.view_auditevent"


def audit_visible(*, user: User) -> QuerySet[AuditEvent]:
    """Admins read the whole trail; managers and approvers their teams' part of it."""
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot read the audit trail.")
    return team_scoped(AuditEvent.objects.select_related("team"), user=user)


def audit_of(*, target, limit: int = 20) -> list[AuditEvent]:
    """The newest decisions on one object, for its own page (whoever may read
    the object may read what was decided about it)."""
    return list(AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))[:limit])


def audit_list(*, user: User, filters: dict) -> QuerySet[AuditEvent]:
    events = audit_visible(user=user)
    if action := filters.get("action"):
        events = events.filter(action__startswith=action)
    if actor := filters.get("actor"):
        events = events.filter(actor_name=actor)
    if target := filters.get("target"):
        events = events.filter(Q(target_id=target) | Q(target_label__icontains=target))
    return events
