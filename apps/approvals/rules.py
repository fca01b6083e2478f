"""Who may do what with promotions: the permissions, the teams that approve, separation of duties."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from apps.accounts.models import User

from .models import PromotionRequest

logger = logging.getLogger(__name__)

VIEW = "approvals.view_promotionrequest"
REQUEST = "approvals.add_promotionrequest"
DECIDE = "approvals.decide_promotionrequest"
ADMINISTER = "approvals.change_environment"
DECIDE_CODENAME = DECIDE.split(".")[1]

# --- permissions --------------------------------------------------------------------


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot see promotions.")


def member(user: User, team_ids) -> bool:
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
    if not member(user, approver_team_ids(request)):
        return "The policy names other teams as this environment's approvers."
    return ""


def retry_refusal(*, user: User, request: PromotionRequest) -> str:
    """Why ``user`` may not retry an approval's write-back ('' when they may):
    the requester, the request's approvers and admins may."""
    if user.pk == request.requested_by_id or user.is_portal_admin:
        return ""
    if user.has_perm(DECIDE) and member(user, approver_team_ids(request)):
        return ""
    return "The requester, an approver or an admin can retry."


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
