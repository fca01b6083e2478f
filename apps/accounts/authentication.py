from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>`` against hashed per-user keys."""

    def authenticate_credentials(self, key):
        token = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token
