from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from .. import selectors, services
from ..forms import RunFilterForm
from ..models import Run
from .serializers import (
    RunCreateSerializer,
    RunDetailSerializer,
    RunSerializer,
    RunStepSerializer,
    StepDecisionSerializer,
)


def _context(runs) -> dict:
    return {"model_versions": selectors.run_model_versions(runs=runs)}


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of the caller's teams. Filters: ?status=&kind=&backend=&mine=true"""

    serializer_class = RunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Run.objects.none()
        if not self.request.user.has_perm("runs.view_run"):
            raise PermissionDenied("Your role cannot see runs.")
        form = RunFilterForm(self.request.query_params)
        filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
        return selectors.run_list(user=self.request.user, **filters)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        runs = list(queryset) if page is None else page
        data = RunSerializer(runs, many=True, context=_context(runs)).data
        return Response(data) if page is None else self.get_paginated_response(data)

    def retrieve(self, request, pk=None):
        run = get_object_or_404(selectors.run_visible(user=request.user), pk=pk)
        events = selectors.run_recent_events(run=run)
        return Response(RunDetailSerializer(run, context={**_context([run]), "events": events}).data)

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def create(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.run_create(user=request.user, **serializer.validated_data)
        return Response(RunSerializer(run).data, status=201)

    @extend_schema(request=None, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = get_object_or_404(selectors.run_visible(user=request.user), pk=pk)
        services.run_cancel(run=run, user=request.user)
        return Response(RunSerializer(run).data)

    @extend_schema(request=None, responses={201: RunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Retry a failed template run from its first unfinished step (a new, linked run)."""
        run = get_object_or_404(selectors.run_visible(user=request.user), pk=pk)
        return Response(RunSerializer(services.run_retry(run=run, user=request.user)).data, status=201)

    @extend_schema(request=StepDecisionSerializer, responses={200: RunStepSerializer})
    @action(detail=True, methods=["post"], url_path=r"steps/(?P<step_id>[0-9a-f-]{36})/decide")
    def decide(self, request, pk=None, step_id=None):
        """Release or reject a step waiting for a decision (admins, until Approvals exists)."""
        run = get_object_or_404(selectors.run_visible(user=request.user), pk=pk)
        step = get_object_or_404(run.steps.select_related("run"), pk=step_id)
        body = StepDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.step_decide(
            step=step,
            user=request.user,
            approve=body.validated_data["decision"] == "approve",
            comment=body.validated_data["comment"],
        )
        return Response(RunStepSerializer(step).data)
