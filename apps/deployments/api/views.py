"""The endpoints API: the same selectors and services as the pages."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.runs.api.serializers import RunSerializer

from .. import hardware, selectors, services, telemetry
from ..models import Endpoint
from .serializers import (
    DeploySerializer,
    EndpointDetailSerializer,
    EndpointSerializer,
    MetricsQuerySerializer,
    TrafficSerializer,
)

LAST_HOUR = timedelta(hours=1)
MAX_METRICS_WINDOW = timedelta(days=31)


class EndpointViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Endpoints of the caller's teams on every backend. Filters: ?state=&q="""

    serializer_class = EndpointSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Endpoint.objects.none()
        services.require_view(user=self.request.user)
        params = self.request.query_params
        return selectors.endpoint_list(user=self.request.user, state=params.get("state", ""), q=params.get("q", ""))

    def _endpoint(self, pk) -> Endpoint:
        services.require_view(user=self.request.user)
        return get_object_or_404(
            selectors.endpoints_visible(user=self.request.user).prefetch_related("variants"), pk=pk
        )

    def retrieve(self, request, pk=None):
        """Variants (with their hardware and its price), weights, state, the rollout's stages
        and the last hour's figures per variant."""
        endpoint = self._endpoint(pk)
        hardware.variants_with_hardware(endpoint)  # the serializer reads each variant's hardware
        context = {
            "steps": list(endpoint.rollout_run.steps.all()) if endpoint.rollout_run else [],
            "figures": telemetry.figures_by_variant(endpoint_id=endpoint.pk, since=timezone.now() - LAST_HOUR),
            "history": selectors.endpoint_history(endpoint=endpoint),
        }
        return Response(EndpointDetailSerializer(endpoint, context=context).data)

    @extend_schema(request=DeploySerializer, responses={201: RunSerializer})
    def create(self, request):
        """Deploy a model version to an endpoint (new or existing) with a rollout; answers the rollout run."""
        body = DeploySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        run = services.deployment_start(user=request.user, rollout=data.pop("rollout", None), **data)
        return Response(RunSerializer(run).data, status=201)

    def destroy(self, request, pk=None):
        """Delete the endpoint (a run); answers the run."""
        run = services.endpoint_delete(user=request.user, endpoint=self._endpoint(pk))
        return Response(RunSerializer(run).data, status=202)

    @extend_schema(request=TrafficSerializer, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def traffic(self, request, pk=None):
        """Set the traffic split ({variant: percent}, adding up to 100); answers the run."""
        endpoint = self._endpoint(pk)  # another team's endpoint is a 404 whatever the body
        body = TrafficSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.endpoint_traffic(user=request.user, endpoint=endpoint, weights=body.validated_data["weights"])
        return Response(RunSerializer(run).data, status=202)

    @extend_schema(request=None, responses={202: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Give the rollout's candidate all traffic now."""
        endpoint = services.endpoint_command(user=request.user, endpoint=self._endpoint(pk), command="promote")
        return Response(EndpointSerializer(endpoint).data, status=202)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Roll the rollout in progress back, or restore the previous configuration."""
        result = services.endpoint_command(user=request.user, endpoint=self._endpoint(pk), command="rollback")
        if isinstance(result, Endpoint):
            return Response(EndpointSerializer(result).data, status=202)
        return Response(RunSerializer(result).data, status=202)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO time; default an hour ago"),
            OpenApiParameter("to", str, description="ISO time; default now"),
        ],
        responses={200: None},
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """Per variant and minute: requests, errors, mean and p95 latency (ms)."""
        endpoint = self._endpoint(pk)
        query = MetricsQuerySerializer(
            data={
                k: v
                for k, v in {"start": request.query_params.get("from"), "end": request.query_params.get("to")}.items()
                if v
            }
        )
        query.is_valid(raise_exception=True)
        end = query.validated_data.get("end") or timezone.now()
        start = query.validated_data.get("start") or end - LAST_HOUR
        if not timedelta(0) < end - start <= MAX_METRICS_WINDOW:
            raise ValidationError({"from": ["'from' must be before 'to', at most 31 days apart."]})
        series = telemetry.series(endpoint_id=endpoint.pk, since=start, until=end)
        return Response(
            {
                "from": start,
                "to": end,
                "step_seconds": 60,
                "variants": {
                    name: [
                        {"minute": m, "requests": r, "errors": e, "mean_ms": mean, "p95_ms": p95}
                        for m, r, e, mean, p95 in zip(
                            s["minute"], s["requests"], s["errors"], s["mean_ms"], s["p95_ms"], strict=True
                        )
                    ]
                    for name, s in series.items()
                },
            }
        )
