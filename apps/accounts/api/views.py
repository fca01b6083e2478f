from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from ..services import api_token_create


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, default="api", max_length=100)


class LoginThrottle(AnonRateThrottle):
    """Slows down password guessing (rate in settings: DEFAULT_THROTTLE_RATES)."""

    scope = "login"


@extend_schema(
    request=TokenRequestSerializer,
    responses={201: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([LoginThrottle])
def obtain_token(request):
    """Exchange username and password for a new API token (shown once)."""
    serializer = TokenRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    user = authenticate(
        request, username=serializer.validated_data["username"], password=serializer.validated_data["password"]
    )
    if user is None:
        return Response({"non_field_errors": ["Wrong username or password."]}, status=400)
    _, key = api_token_create(user=user, name=serializer.validated_data["name"])
    return Response({"token": key}, status=201)
