"""The drift-report and monitor API: the same selectors and services as the pages.
Another team's report or monitor is a 404; a reader's write is a 403."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import selectors, services
from ..models import DriftReport, Monitor
from .serializers import (
    DriftAlertSerializer,
    DriftReportBriefSerializer,
    DriftReportRequestSerializer,
    DriftReportSerializer,
    MonitorCreatedSerializer,
    MonitorCreateSerializer,
    MonitorSerializer,
    MonitorUpdateSerializer,
)


def paginate(view, queryset, serializer_class) -> Response:
    page = view.paginate_queryset(queryset)
    return view.get_paginated_response(serializer_class(page, many=True).data)


class DriftReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Drift reports of the caller's teams: ad-hoc ones and monitors' windows."""

    serializer_class = DriftReportBriefSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DriftReport.objects.none()
        services.require_view(user=self.request.user)
        return selectors.report_list(user=self.request.user)

    @extend_schema(request=DriftReportRequestSerializer, responses={202: DriftReportSerializer})
    def create(self, request):
        """Compare ``current`` with ``reference`` (a run of kind "drift"); answers the pending report."""
        services.require_start(user=request.user)
        body = DriftReportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = services.drift_report_start(user=request.user, **body.validated_data)
        return Response(DriftReportSerializer(report).data, status=202)

    @extend_schema(responses=DriftReportSerializer)
    def retrieve(self, request, pk=None):
        """The report's status while its run works, then its verdict and every column's test."""
        services.require_view(user=request.user)
        try:
            report = selectors.report_get(user=request.user, pk=pk)
        except (ObjectDoesNotExist, ValueError, ValidationError):
            raise Http404("No such drift report.") from None
        return Response(DriftReportSerializer(report).data)


class MonitorViewSet(viewsets.GenericViewSet):
    """Monitors of the caller's teams: read by everyone there, configured by its data scientists."""

    serializer_class = MonitorSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Monitor.objects.none()
        services.require_view(user=self.request.user)
        return selectors.monitors_visible(user=self.request.user)

    def _monitor(self, pk) -> Monitor:
        services.require_view(user=self.request.user)
        try:
            return selectors.monitor_get(user=self.request.user, pk=pk)
        except (ObjectDoesNotExist, ValueError, ValidationError):
            raise Http404("No such monitor.") from None

    def list(self, request):
        return paginate(self, self.get_queryset(), MonitorSerializer)

    def retrieve(self, request, pk=None):
        return Response(MonitorSerializer(self._monitor(pk)).data)

    @extend_schema(request=MonitorCreateSerializer, responses={201: MonitorCreatedSerializer})
    def create(self, request):
        services.require_configure(user=request.user)
        body = MonitorCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        monitor = services.monitor_create(user=request.user, **body.validated_data)
        return Response(MonitorCreatedSerializer(monitor).data, status=201)

    @extend_schema(request=MonitorUpdateSerializer, responses=MonitorCreatedSerializer)
    def partial_update(self, request, pk=None):
        monitor = self._monitor(pk)
        body = MonitorUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        monitor = services.monitor_update(user=request.user, monitor=monitor, data=dict(body.validated_data))
        return Response(MonitorCreatedSerializer(monitor).data)

    def destroy(self, request, pk=None):
        services.monitor_delete(user=request.user, monitor=self._monitor(pk))
        return Response(status=204)

    @extend_schema(responses=DriftReportBriefSerializer(many=True))
    @action(detail=True, methods=["get"])
    def reports(self, request, pk=None):
        """The monitor's windows over time, newest first."""
        monitor = self._monitor(pk)
        return paginate(self, selectors.report_list(user=request.user, monitor=monitor), DriftReportBriefSerializer)

    @extend_schema(responses=DriftAlertSerializer(many=True))
    @action(detail=True, methods=["get"])
    def alerts(self, request, pk=None):
        """The monitor's alerts, open and resolved, newest first."""
        monitor = self._monitor(pk)
        return paginate(self, selectors.alert_list(monitor=monitor), DriftAlertSerializer)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"], url_path="test-webhook")
    def test_webhook(self, request, pk=None):
        """Send a signed test delivery to the monitor's webhook."""
        services.monitor_webhook_test(user=request.user, monitor=self._monitor(pk))
        return Response({"detail": "A signed test delivery is on its way."}, status=202)
