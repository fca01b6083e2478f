"""The costs API: the same selectors, dashboard figures and services as the pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from apps.accounts.models import Team
from apps.core.errors import InvalidInput
from apps.core.scoping import user_team_ids

from .. import attribution, budgets, dashboard, selectors, services
from ..models import Budget
from .serializers import (
    BackfillSerializer,
    BackfillStartedSerializer,
    BudgetCreateSerializer,
    BudgetSerializer,
    BudgetUpdateSerializer,
    CostListSerializer,
    CostQuerySerializer,
    PerPredictionSerializer,
    PerVersionSerializer,
)


def _filters(request, query: dict) -> selectors.CostFilters:
    team_ids = []
    if query.get("team"):
        team = Team.objects.filter(slug=query["team"]).first()
        visible = request.user.is_portal_admin or (team is not None and team.pk in user_team_ids(request.user))
        if team is None or not visible:
            raise InvalidInput.one("team", "No such team among yours.")
        team_ids = [team.pk]
    return selectors.CostFilters(
        start=query["start"],
        end=query["end"],
        team_ids=team_ids,
        backends=[query["backend"]] if query.get("backend") else [],
        projects=[query["project"]] if query.get("project") else [],
        include_estimates=query.get("estimate", "include") == "include",
    )


def _query(request) -> dict:
    services.require_view(user=request.user)
    body = CostQuerySerializer(data=request.query_params)
    body.is_valid(raise_exception=True)
    return body.validated_data


@extend_schema(
    parameters=[CostQuerySerializer],
    responses=CostListSerializer,
    summary="Spend per day or month, grouped by up to three names",
)
@api_view(["GET"])
def cost_list(request):
    """Your teams' spend: ?group_by=team,model&start=&end=&granularity=day|month&estimate=include|exclude
    (also team=<slug>, backend=, project=). Amounts are decimal strings in each row's currency."""
    query = _query(request)
    filters = _filters(request, query)
    rows = selectors.cost_totals(
        user=request.user, filters=filters, group_by=query["group_by"], granularity=query["granularity"]
    )
    for row in rows:
        row["amount"] = str(row["amount"])
    return Response(
        {
            "start": filters.start,
            "end": filters.end,
            "granularity": query["granularity"],
            "group_by": query["group_by"],
            "estimate": query["estimate"],
            "results": rows,
        }
    )


@extend_schema(
    parameters=[CostQuerySerializer],
    responses=PerPredictionSerializer,
    summary="Cost per 1,000 predictions of each endpoint",
)
@api_view(["GET"])
def cost_per_prediction(request):
    """Serving cost (bill rows tagged with the endpoint) ÷ the gateway's requests in the period, per
    endpoint: ?endpoint=&start=&end=. ``cost_per_1000`` is null for an endpoint without traffic."""
    query = _query(request)
    filters = _filters(request, query)
    rows = dashboard.per_prediction_rows(user=request.user, filters=filters, endpoint=query.get("endpoint", ""))
    return Response(
        {
            "start": filters.start,
            "end": filters.end,
            "results": [
                {
                    **r,
                    "cost": str(r["cost"]),
                    "cost_per_1000": None if r["cost_per_1000"] is None else str(r["cost_per_1000"]),
                }
                for r in rows
            ],
        }
    )


@extend_schema(
    parameters=[CostQuerySerializer],
    responses=PerVersionSerializer,
    summary="Cost per model version: training, tuning, batch and serving",
)
@api_view(["GET"])
def cost_per_version(request):
    """What each model version cost in the period (?start=&end=, also team=, backend=, project=),
    by the attribution rule ``rule`` states; amounts are decimal strings."""
    query = _query(request)
    filters = _filters(request, query)
    result = attribution.attribute(user=request.user, filters=filters)
    return Response(
        {
            "start": filters.start,
            "end": filters.end,
            "rule": attribution.RULE,
            "unattributed": str(dashboard.cents(result.unattributed)),
            "results": [
                {
                    "model": v.model_name,
                    "version": v.version,
                    **{c: str(dashboard.cents(v.amounts.get(c, 0))) for c in attribution.CATEGORIES},
                    "total": str(dashboard.cents(v.total)),
                }
                for v in result.versions
            ],
        }
    )


@extend_schema(
    request=BackfillSerializer, responses={202: BackfillStartedSerializer}, summary="Read a period of bills again"
)
@api_view(["POST"])
def cost_backfill(request):
    """Read ``start``..``end`` again from the connections your teams use (admins: every one and the
    local backend; ``connection`` for one), in a worker. Days already final are not asked for again
    unless ``force``."""
    body = BackfillSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return Response(services.costs_backfill(user=request.user, **body.validated_data), status=202)


class BudgetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Budgets of your teams with this month's spend and forecast; managers and admins write."""

    serializer_class = BudgetSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Budget.objects.none()
        services.require_view(user=self.request.user)
        return selectors.budgets_visible(user=self.request.user)

    def _answer(self, items, **kwargs):
        statuses = {s.budget.pk: s for s in budgets.budget_statuses(budgets=list(items))}
        many = kwargs.pop("many", False)
        data = BudgetSerializer(items if many else items[0], many=many, context={"statuses": statuses}).data
        return Response(data, **kwargs)

    def list(self, request):
        return self._answer(list(self.get_queryset()), many=True)

    def retrieve(self, request, pk=None):
        return self._answer([get_object_or_404(self.get_queryset(), pk=pk)])

    @extend_schema(request=BudgetCreateSerializer, responses={201: BudgetSerializer})
    def create(self, request):
        services.require_view(user=request.user)
        body = BudgetCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        budget = services.budget_create(user=request.user, **body.validated_data)
        return self._answer([budget], status=201)

    @extend_schema(request=BudgetUpdateSerializer, responses={200: BudgetSerializer})
    def partial_update(self, request, pk=None):
        budget = get_object_or_404(self.get_queryset(), pk=pk)
        body = BudgetUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        budget = services.budget_update(user=request.user, budget=budget, **body.validated_data)
        return self._answer([budget])

    @extend_schema(request=BudgetUpdateSerializer, responses={200: BudgetSerializer})
    def update(self, request, pk=None):
        return self.partial_update(request, pk=pk)

    @extend_schema(request=None, responses={202: None}, summary="Send a signed test delivery to the budget's webhook")
    @action(detail=True, methods=["post"], url_path="test-webhook")
    def test_webhook(self, request, pk=None):
        budget = get_object_or_404(self.get_queryset(), pk=pk)
        services.budget_webhook_test(user=request.user, budget=budget)
        return Response(status=202)

    def destroy(self, request, pk=None):
        budget = get_object_or_404(self.get_queryset(), pk=pk)
        services.budget_delete(user=request.user, budget=budget)
        return Response(status=204)
