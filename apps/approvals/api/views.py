"""The promotions API: the same selectors and services as the pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts.models import Team
from apps.core.errors import InvalidInput
from apps.registry.selectors import version_visible

from .. import outcomes, policies, rules, selectors, services
from ..models import Environment, PromotionRequest, Status
from .serializers import (
    DecideSerializer,
    EnvironmentSerializer,
    EnvironmentWriteSerializer,
    PromotionCreateSerializer,
    PromotionSerializer,
)

YES = {"1", "true", "yes"}


class PromotionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Promotion requests of the caller's teams. Filters: ?status=&environment=&to_decide=1&mine=1&q="""

    serializer_class = PromotionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PromotionRequest.objects.none()
        rules.require_view(user=self.request.user)
        params = self.request.query_params
        status = params.get("status", "")
        if status and status not in Status.values:
            raise ValidationError({"status": [f"One of {', '.join(Status.values)}."]})
        filters = selectors.RequestFilters(
            status=status,
            environment=params.get("environment", ""),
            to_decide=params.get("to_decide", "").lower() in YES,
            mine=params.get("mine", "").lower() in YES,
            q=params.get("q", ""),
        )
        return selectors.request_list(user=self.request.user, filters=filters)

    def _request(self, pk) -> PromotionRequest:
        rules.require_view(user=self.request.user)
        return get_object_or_404(selectors.requests_visible(user=self.request.user), pk=pk)

    def retrieve(self, request, pk=None):
        """Status, evidence (each check's verdict and figures), decisions, and the runs that followed."""
        self._request(pk)
        return Response(PromotionSerializer(selectors.request_get(user=request.user, pk=pk)).data)

    @extend_schema(request=PromotionCreateSerializer, responses={201: PromotionSerializer})
    def create(self, request):
        """Ask for a model version's promotion to an environment, with the deployment it should get."""
        rules.require_view(user=request.user)
        body = PromotionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        version = version_visible(user=request.user, pk=data["model_version"])
        if version is None:
            raise InvalidInput.one("model_version", "No such model version among your teams' models.")
        created = services.promotion_request(
            user=request.user,
            version=version,
            environment=data["environment"],
            deployment=request.data.get("deployment") if data.get("deployment") is not None else None,
            reason=data.get("reason", ""),
        )
        return Response(PromotionSerializer(selectors.request_get(user=request.user, pk=created.pk)).data, status=201)

    @extend_schema(request=DecideSerializer, responses={200: PromotionSerializer})
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve or reject (a comment is required to reject)."""
        promotion = self._request(pk)
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.promotion_decide(user=request.user, request=promotion, **body.validated_data)
        return Response(PromotionSerializer(selectors.request_get(user=request.user, pk=pk)).data)

    @extend_schema(request=None, responses={200: PromotionSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        services.promotion_withdraw(user=request.user, request=self._request(pk))
        return Response(PromotionSerializer(selectors.request_get(user=request.user, pk=pk)).data)

    @extend_schema(request=None, responses={202: PromotionSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try an approved request's write-back and deployment again after a failure."""
        outcomes.promotion_retry(user=request.user, request=self._request(pk))
        return Response(PromotionSerializer(selectors.request_get(user=request.user, pk=pk)).data, status=202)


class EnvironmentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Environments of the caller's teams with their current policy and its history; admins write."""

    serializer_class = EnvironmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Environment.objects.none()
        rules.require_view(user=self.request.user)
        return selectors.environments_visible(user=self.request.user)

    def retrieve(self, request, pk=None):
        environment = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(EnvironmentSerializer(environment).data)

    @extend_schema(
        request=EnvironmentWriteSerializer,
        responses={201: EnvironmentSerializer},
        parameters=[OpenApiParameter("team", str, description="the team's name (default: the caller's only team)")],
    )
    def create(self, request):
        """Create an environment or change its policy (a new policy version)."""
        body = EnvironmentWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        team = _team(request.user, data.pop("team", None))
        names = data.pop("approver_teams")
        teams = list(Team.objects.filter(name__in=names))
        if len(teams) != len(set(names)):
            missing = sorted(set(names) - {t.name for t in teams})
            raise InvalidInput.one("approver_teams", f"No team named {', '.join(missing)}.")
        environment = policies.environment_save(user=request.user, team=team, approver_teams=teams, **data)
        fresh = selectors.environments_visible(user=request.user).get(pk=environment.pk)
        return Response(EnvironmentSerializer(fresh).data, status=201)


def _team(user, name: str | None) -> Team:
    rules.require_view(user=user)
    teams = Team.objects.all() if user.is_portal_admin else user.teams.all()
    if name:
        team = teams.filter(name=name).first()
        if team is None:
            raise InvalidInput.one("team", f"No team {name!r} of yours.")
        return team
    mine = list(user.teams.all()[:2])
    if len(mine) != 1:
        raise InvalidInput.one("team", "Name the team.")
    return mine[0]
