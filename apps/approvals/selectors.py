"""Reads of promotions: what a person may see (their teams' requests, and
requests whose policy names one of their teams as approvers), the inbox, a
request with its evidence and decisions, environments with their policies."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.scoping import user_team_ids

from .models import Decision, Environment, EvidenceCheck, Policy, PromotionRequest, Status
from .rules import DECIDE


def requests_visible(*, user) -> QuerySet[PromotionRequest]:
    requests = PromotionRequest.objects.all()
    if not user.is_portal_admin:
        teams = user_team_ids(user)
        requests = requests.filter(Q(team__in=teams) | Q(policy__approver_teams__in=teams)).distinct()
    return requests


def _listed(requests: QuerySet) -> QuerySet[PromotionRequest]:
    """What a list row shows, in a constant number of queries: the version and
    model, the environment, the requester, approvals so far, and check verdicts."""
    return (
        requests.select_related(
            "model_version__model",
            "champion",
            "environment",
            "policy",
            "requested_by",
            "team",
            "deployment_run",
            "evidence_run",
        )
        .annotate(
            approvals=Count("decisions", filter=Q(decisions__verdict=Decision.Verdict.APPROVE), distinct=True),
        )
        .prefetch_related(
            Prefetch("checks", queryset=EvidenceCheck.objects.defer("chart")),
            Prefetch("decisions", queryset=Decision.objects.select_related("approver")),
        )
    )


@dataclass(frozen=True)
class RequestFilters:
    status: str = ""
    environment: str = ""
    to_decide: bool = False  # waiting for this person's decision
    mine: bool = False  # asked by this person
    q: str = ""


def request_list(*, user, filters: RequestFilters) -> QuerySet[PromotionRequest]:
    requests = requests_visible(user=user)
    if filters.status:
        requests = requests.filter(status=filters.status)
    if filters.environment:
        requests = requests.filter(environment__name=filters.environment)
    if filters.mine:
        requests = requests.filter(requested_by=user)
    if filters.to_decide:
        requests = to_decide(user=user, requests=requests)
    if filters.q:
        requests = requests.filter(model_version__model__name__icontains=filters.q)
    return _listed(requests).order_by("-created_at")


def to_decide(*, user, requests: QuerySet | None = None) -> QuerySet[PromotionRequest]:
    """Open requests this person may decide and has not: the inbox."""
    requests = requests_visible(user=user) if requests is None else requests
    if not user.has_perm(DECIDE):
        return requests.none()
    requests = requests.filter(status=Status.PENDING, expires_at__gt=timezone.now()).exclude(requested_by=user)
    requests = requests.exclude(decisions__approver=user)
    if not user.is_portal_admin:
        teams = user_team_ids(user)
        # The policy's named teams, or (none named) the request's own team.
        requests = requests.filter(
            Q(policy__approver_teams__in=teams) | Q(policy__approver_teams__isnull=True, team__in=teams)
        ).distinct()
    return requests


def to_decide_count(*, user) -> int:
    return to_decide(user=user).count()


def request_get(*, user, pk) -> PromotionRequest:
    """A request the user may see; PromotionRequest.DoesNotExist (a 404) otherwise."""
    return _listed(requests_visible(user=user)).get(pk=pk)


def requests_of_version(*, version) -> list[PromotionRequest]:
    """A version's promotions, newest first (its lineage on the version page)."""
    return list(
        PromotionRequest.objects.filter(model_version=version)
        .select_related("environment", "requested_by", "deployment_run")
        .order_by("-created_at")
    )


def environments_visible(*, user) -> QuerySet[Environment]:
    environments = Environment.objects.all()
    if not user.is_portal_admin:
        environments = environments.filter(team__in=user_team_ids(user))
    return environments.select_related("team").prefetch_related(
        Prefetch(
            "policies",
            queryset=Policy.objects.select_related("created_by")
            .prefetch_related("approver_teams")
            .order_by("-version"),
        )
    )


def environments_of_team(*, team_id) -> list[Environment]:
    return list(Environment.objects.filter(team_id=team_id).order_by("name"))
