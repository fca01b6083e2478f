"""Writes of gateway keys: created by the endpoint's owners (the key shown
once, only its hash kept), revoked by them; both audited. A revoked key stops
working in every gateway process within ``GATEWAY_CACHE_SECONDS``."""

from __future__ import annotations

import secrets

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.deployments.services import can_change as endpoint_can_change

from .models import KEY_PREFIX, ApiKey

MAX_RATE_PER_MINUTE = 1_000_000
DEFAULT_RATE_PER_MINUTE = 600


def keys_manageable(*, user: User, endpoint) -> bool:
    """An endpoint's keys are part of it: its owners manage them (the deployments rule)."""
    return endpoint_can_change(user=user, endpoint=endpoint)


def api_key_owner_check(*, user: User, endpoint) -> None:
    if not keys_manageable(user=user, endpoint=endpoint):
        raise PermissionDenied("Only the endpoint's owners (its team's data scientists) manage its keys.")


def api_key_create(
    *, user: User, endpoint, consumer: str, rate_limit_per_minute: int = DEFAULT_RATE_PER_MINUTE
) -> tuple[ApiKey, str]:
    """A key for ``consumer`` on ``endpoint``: the row and the clear key, which is never stored."""
    api_key_owner_check(user=user, endpoint=endpoint)
    errors: dict = {}
    consumer = consumer.strip() if isinstance(consumer, str) else ""
    if not consumer or len(consumer) > 100:
        errors["consumer"] = ["Required, at most 100 characters (who calls with this key)."]
    rate = rate_limit_per_minute
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE_PER_MINUTE:
        errors["rate_limit_per_minute"] = [f"A whole number from 1 to {MAX_RATE_PER_MINUTE}."]
    if errors:
        raise InvalidInput(errors)
    if not endpoint.is_live:
        raise Conflict("The endpoint is deleted: it takes no new keys.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            endpoint=endpoint,
            consumer=consumer,
            prefix=key[:12],
            key_hash=ApiKey.hash_key(key),
            rate_limit_per_minute=rate,
            created_by=user,
        )
        audit_record(
            actor=user,
            action="gateway_key.create",
            target=api_key,
            team=endpoint.team,
            data={"endpoint": endpoint.name, "consumer": consumer, "prefix": api_key.prefix, "rate": rate},
        )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, user: User, endpoint, key_id) -> ApiKey:
    """Revoke one of ``endpoint``'s keys (ApiKey.DoesNotExist, a 404, for any other); revoking twice is a no-op."""
    api_key_owner_check(user=user, endpoint=endpoint)
    api_key = ApiKey.objects.select_for_update().get(endpoint=endpoint, pk=key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = user
        api_key.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        audit_record(
            actor=user,
            action="gateway_key.revoke",
            target=api_key,
            team=endpoint.team,
            data={"endpoint": endpoint.name, "consumer": api_key.consumer, "prefix": api_key.prefix},
        )
    return api_key
