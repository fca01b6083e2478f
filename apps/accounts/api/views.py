from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from apps.core.net import client_ip

from ..services import api_token_create


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)  # as long as a username can be
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, default="api", max_length=100)


class LoginThrottle(SimpleRateThrottle):
    """Slows down password guessing from one address (rate: DEFAULT_THROTTLE_RATES["login"]).
    The address is REMOTE_ADDR unless NUM_PROXIES trusted proxies stand in front."""

    scope = "login"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_ident(self, request):
        return client_ip(request)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountThrottle(LoginThrottle):
    """...and against one account from many addresses (rate: DEFAULT_THROTTLE_RATES["login_account"])."""

    scope = "login_account"

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # nothing to count; the serializer refuses the request
        return self.cache_format % {"scope": self.scope, "ident": username.strip().lower()[:150]}


@extend_schema(
    request=TokenRequestSerializer,
    responses={201: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([LoginThrottle, LoginAccountThrottle])
def obtain_token(request):
    """Exchange username and password for a new API token (shown once)."""
    serializer = TokenRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    # Django's request, not DRF's wrapper: django-axes marks it when the account is locked out.
    user = authenticate(
        request._request, username=serializer.validated_data["username"], password=serializer.validated_data["password"]
    )
    if user is None:
        return Response({"non_field_errors": ["Wrong username or password."]}, status=400)
    _, key = api_token_create(user=user, name=serializer.validated_data["name"])
    return Response({"token": key}, status=201)
