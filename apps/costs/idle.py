"""Idle endpoints: asking their owners to scale them down or delete them. The endpoint's
team's data scientists are told in the portal (and by e-mail, after commit), at most once
per endpoint per week; each request is audited."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.deployments import selectors as deployment_selectors
from apps.notifications.models import Notification
from apps.notifications.services import notify_users

from .models import ScaleDownRequest
from .services import can_change_budgets, require_view


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def live_endpoint_names(*, user: User, names: list[str]) -> set[str]:
    """Which of ``names`` (from the bills' tags) are live endpoints of the person's teams: only
    those have owners to ask (one query)."""
    if not names:
        return set()
    return set(deployment_selectors.endpoint_list(user=user).filter(name__in=names).values_list("name", flat=True))


def scale_down_request_create(*, user: User, endpoint_name: str) -> ScaleDownRequest:
    """Tell the team's data scientists that ``endpoint_name`` costs money and serves almost
    nothing. A second request for the same endpoint in the same week is a Conflict."""
    require_view(user=user)
    if not can_change_budgets(user=user):
        raise PermissionDenied("Managers ask an endpoint's owners to scale it down.")
    endpoint = deployment_selectors.endpoint_list(user=user).filter(name=endpoint_name).first()
    if endpoint is None:
        raise InvalidInput.one("endpoint", "No live endpoint of your teams has this name.")
    week = week_of(timezone.localdate())
    earlier = ScaleDownRequest.objects.filter(endpoint_id=endpoint.pk, week=week).first()
    if earlier is not None:
        raise Conflict(f"Its owners were already asked this week ({earlier.created_at:%Y-%m-%d}).")
    owners = list(User.objects.filter(teams=endpoint.team, groups__name=Role.DATA_SCIENTIST, is_active=True).distinct())
    try:
        with transaction.atomic():
            request = ScaleDownRequest.objects.create(
                team=endpoint.team,
                endpoint_id=endpoint.pk,
                endpoint_name=endpoint.name,
                week=week,
                requested_by=user,
                notified=len(owners),
            )
            notify_users(
                users=owners,
                message=f"{user.get_username()} asks you to scale down or delete the endpoint “{endpoint.name}”: "
                "it costs money and has served almost no requests.",
                url=endpoint.get_absolute_url(),
                subject=f"[Atrium] Scale down or delete {endpoint.name}?",
                level=Notification.Level.ACTION,
            )
            audit_record(
                actor=user,
                action="costs.scale_down_requested",
                target=request,
                team=endpoint.team,
                data={"endpoint": endpoint.name, "notified": len(owners)},
            )
    except IntegrityError:  # a concurrent press won
        raise Conflict("Its owners were already asked this week.") from None
    return request


def asked_this_week(*, names: list[str]) -> dict[str, ScaleDownRequest]:
    """{endpoint name: this week's request} for these names (one query)."""
    if not names:
        return {}
    rows = ScaleDownRequest.objects.filter(week=week_of(timezone.localdate()), endpoint_name__in=names)
    return {row.endpoint_name: row for row in rows.select_related("requested_by")}
