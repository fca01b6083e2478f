"""Reads of gateway keys: the owners' list, and the one fact per key the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from .models import ApiKey


def api_key_list(*, endpoint) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(endpoint=endpoint).select_related("created_by", "revoked_by")


@dataclass(frozen=True)
class KeyGrant:
    """What a valid key allows: calling one endpoint at a rate."""

    key_id: str
    endpoint_id: str
    rate_limit_per_minute: int
    revoked: bool


def key_grant(*, key_hash: str) -> KeyGrant | None:
    row = (
        ApiKey.objects.filter(key_hash=key_hash)
        .values_list("pk", "endpoint_id", "rate_limit_per_minute", "revoked_at")
        .first()
    )
    if row is None:
        return None
    pk, endpoint_id, rate, revoked_at = row
    return KeyGrant(str(pk), str(endpoint_id), rate, revoked_at is not None)
