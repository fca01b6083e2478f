"""The models API: the same selectors and services as the pages."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import selectors, services
from ..compare import MAX_COMPARE, MIN_COMPARE, versions_compare
from ..forms import ModelFilterForm
from ..models import ModelVersion, RegisteredModel
from ..services import WriteFailed
from .serializers import (
    AliasSerializer,
    ComparisonSerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    RegisteredModelDetailSerializer,
    RegisteredModelSerializer,
    TagKeySerializer,
    TagSerializer,
)


def _written(call):
    """A refused backend write: 400 when permanent, 503 when worth retrying."""
    try:
        return call()
    except WriteFailed as exc:
        return Response(exc.errors, status=400 if exc.permanent else 503)


class RegisteredModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Models of the caller's teams, from every registry.
    Filters: ?q=&tag=key[=value]&team=&backend=&alias=&stage=&approval=&sort=recent|name|metric&metric="""

    serializer_class = RegisteredModelSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RegisteredModel.objects.none()
        services.require_view(user=self.request.user)
        form = ModelFilterForm(self.request.query_params, teams=selectors.team_choices(user=self.request.user))
        return selectors.model_list(user=self.request.user, filters=form.filters())

    def _model(self, pk) -> RegisteredModel:
        services.require_view(user=self.request.user)
        return get_object_or_404(
            selectors.model_visible(user=self.request.user).prefetch_related("aliases__version"), pk=pk
        )

    def retrieve(self, request, pk=None):
        return Response(RegisteredModelDetailSerializer(self._model(pk)).data)

    @extend_schema(responses={200: ModelVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        """The model's versions, newest first, with aliases and approval status."""
        page = self.paginate_queryset(selectors.version_list(model=self._model(pk)))
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("v", str, many=True, description="2 to 5 versions, e.g. ?v=1&v=2")],
        responses={200: ComparisonSerializer},
    )
    @action(detail=True, methods=["get"])
    def compare(self, request, pk=None):
        """Metric and param differences, each version marked better or worse than the first."""
        model = self._model(pk)
        wanted = [v for v in request.query_params.getlist("v") if v]
        versions = selectors.versions_for_compare(model=model, versions=wanted[: MAX_COMPARE + 1])
        if not MIN_COMPARE <= len(versions) <= MAX_COMPARE or len(versions) != len(set(wanted)):
            raise ValidationError({"v": [f"Give {MIN_COMPARE} to {MAX_COMPARE} existing versions of this model."]})
        return Response(ComparisonSerializer(versions_compare(model=model, versions=versions)).data)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Re-read this model from its registry now (asynchronously)."""
        services.model_request_sync(user=request.user, model=self._model(pk))
        return Response(status=202)


class ModelVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One version, and the actions on it (written to the registry first)."""

    serializer_class = ModelVersionDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        services.require_view(user=self.request.user)
        models = selectors.model_visible(user=self.request.user)
        return ModelVersion.objects.filter(model__in=models).select_related("model", "model__connection", "model__team")

    def _respond(self, version):
        version = self.get_queryset().prefetch_related("aliases").get(pk=version.pk)
        return Response(ModelVersionDetailSerializer(version).data)

    @extend_schema(request=AliasSerializer, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"])
    def alias(self, request, pk=None):
        """Set (or move here) an alias such as champion."""
        version = self.get_object()
        body = AliasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alias = body.validated_data["alias"]
        return _written(
            lambda: self._respond(services.version_set_alias(user=request.user, version=version, alias=alias))
        )

    @extend_schema(request=AliasSerializer, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"], url_path="alias/remove")
    def alias_remove(self, request, pk=None):
        version = self.get_object()
        body = AliasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alias = body.validated_data["alias"]
        return _written(
            lambda: self._respond(services.version_remove_alias(user=request.user, version=version, alias=alias))
        )

    @extend_schema(request=TagSerializer, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None):
        version = self.get_object()
        body = TagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _written(
            lambda: self._respond(services.version_set_tag(user=request.user, version=version, **body.validated_data))
        )

    @extend_schema(request=TagKeySerializer, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"], url_path="tags/remove")
    def tags_remove(self, request, pk=None):
        version = self.get_object()
        body = TagKeySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = body.validated_data["key"]
        return _written(lambda: self._respond(services.version_delete_tag(user=request.user, version=version, key=key)))

    @extend_schema(request=None, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        version = self.get_object()
        return _written(lambda: self._respond(services.version_archive(user=request.user, version=version)))

    @extend_schema(request=None, responses={200: ModelVersionDetailSerializer})
    @action(detail=True, methods=["post"])
    def unarchive(self, request, pk=None):
        version = self.get_object()
        return _written(lambda: self._respond(services.version_unarchive(user=request.user, version=version)))
