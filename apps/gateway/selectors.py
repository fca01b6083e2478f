"""Reads of gateway keys: the owners' list, and the one fact per key the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def captured_windows(*, endpoint: str, start: datetime, end: datetime, columns: list[str] | None = None):
    """The endpoint's captured rows with ``start <= time < end`` (the capture format of
    ``capture.py``, from the gateway or a cloud's capture), one pyarrow table per capture
    file: a reader holds one file at a time, whatever the window's size."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .capture_store import store_from_settings

    store = store_from_settings()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    low, high = pa.scalar(start, pa.timestamp("ms", tz="UTC")), pa.scalar(end, pa.timestamp("ms", tz="UTC"))
    day = start.date()
    while day <= (end - timedelta(microseconds=1)).date():
        for name in store.names(endpoint, day.isoformat()):
            table = store.read(endpoint, day.isoformat(), name, columns=columns)
            times = table.column("time")
            kept = table.filter(pc.and_(pc.greater_equal(times, low), pc.less(times, high)))
            if kept.num_rows:
                yield kept
        day += timedelta(days=1)
