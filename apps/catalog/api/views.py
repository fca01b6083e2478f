from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from apps.runs.api.serializers import RunSerializer

from .. import selectors, services
from ..forms import CatalogFilterForm
from ..models import Template
from .serializers import LaunchSerializer, PlannedStepSerializer, TemplateDetailSerializer, TemplateSerializer


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The service catalogue. Filters: ?q=&kind=&tag=&owner=&backend="""

    serializer_class = TemplateSerializer
    lookup_field = "slug"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Template.objects.none()
        form = CatalogFilterForm(self.request.query_params)
        filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
        return selectors.template_list(user=self.request.user, **filters)

    def _template(self, slug) -> Template:
        visible = selectors.template_visible(user=self.request.user).select_related("owner", "current_version")
        return get_object_or_404(visible, slug=slug)

    def retrieve(self, request, slug=None):
        return Response(TemplateDetailSerializer(self._template(slug)).data)

    def _launch_arguments(self, request, slug) -> dict:
        if not request.user.has_perm("runs.add_run"):
            raise PermissionDenied("Your role cannot start runs.")
        template = self._template(slug)  # 404 before the body is read: a hidden template's name gives nothing away
        body = LaunchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return {"user": request.user, "template": template, **body.validated_data}

    @extend_schema(request=LaunchSerializer, responses={200: PlannedStepSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request, slug=None):
        """Validate a launch and return the planned steps with their resolved inputs. Creates nothing."""
        arguments = self._launch_arguments(request, slug)
        arguments.pop("name")
        plan = services.template_dry_run(**arguments)
        return Response({"steps": PlannedStepSerializer(plan, many=True).data})

    @extend_schema(request=LaunchSerializer, responses={201: RunSerializer})
    @action(detail=True, methods=["post"])
    def launch(self, request, slug=None):
        """Start a run of the template's live version."""
        run = services.template_launch(**self._launch_arguments(request, slug))
        return Response(RunSerializer(run).data, status=201)
