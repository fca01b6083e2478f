"""Gateway keys of an endpoint: list (anyone who sees the endpoint), create and
revoke (its owners). Another team's endpoint is a 404, a reader's write a 403."""

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from apps.deployments.selectors import endpoint_get

from .. import selectors, services
from .serializers import ApiKeyCreatedSerializer, ApiKeyCreateSerializer, ApiKeySerializer


def _endpoint(request, endpoint_id):
    try:
        return endpoint_get(user=request.user, pk=endpoint_id)
    except ObjectDoesNotExist:
        raise Http404("No such endpoint.") from None


@extend_schema(
    methods=["GET"], responses=ApiKeySerializer(many=True), summary="The endpoint's gateway keys (hashes never shown)"
)
@extend_schema(
    methods=["POST"],
    request=ApiKeyCreateSerializer,
    responses={201: ApiKeyCreatedSerializer},
    summary="Create a gateway key: the answer shows it this once",
)
@api_view(["GET", "POST"])
def keys(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "GET":
        return Response(ApiKeySerializer(selectors.api_key_list(endpoint=endpoint), many=True).data)
    services.api_key_owner_check(user=request.user, endpoint=endpoint)  # a reader's 403 before a 400 on the body
    serializer = ApiKeyCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    api_key, key = services.api_key_create(user=request.user, endpoint=endpoint, **serializer.validated_data)
    # The clear key is in this answer only: no cache, proxy or browser may keep a copy.
    return Response(
        {"id": str(api_key.pk), "key": key}, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"}
    )


@extend_schema(request=None, responses=ApiKeySerializer, summary="Revoke a gateway key (at once, in every gateway)")
@api_view(["POST"])
def key_revoke(request, endpoint_id, key_id):
    endpoint = _endpoint(request, endpoint_id)
    try:
        api_key = services.api_key_revoke(user=request.user, endpoint=endpoint, key_id=key_id)
    except ObjectDoesNotExist:
        raise Http404("No such key.") from None
    return Response(ApiKeySerializer(api_key).data)
