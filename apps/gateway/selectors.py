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


@dataclass(frozen=True)
class CaptureFile:
    day: str  # YYYY-MM-DD, the partition
    name: str
    modified: float  # when it appeared, epoch seconds (the store's clock)


@dataclass(frozen=True)
class CaptureFooter:
    requests: int  # rows of the capture file: one per captured request
    input_rows: int  # the requests' input rows (a request may carry many)
    last_time: datetime | None  # the latest request time in the file (from the column statistics)


def capture_files(*, endpoint: str, start: datetime, end: datetime, modified_after: float = 0.0):
    """The endpoint's capture files in the days of [start, end] that appeared after
    ``modified_after``: the store's listing only, no file opened."""
    from .capture_store import store_from_settings

    store = store_from_settings()
    day, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    while day <= last:
        for name, modified in store.listing(endpoint, day.isoformat()):
            if modified > modified_after:
                yield CaptureFile(day=day.isoformat(), name=name, modified=modified)
        day += timedelta(days=1)


def capture_file_rows(*, endpoint: str, day: str, name: str) -> CaptureFooter:
    """How many requests and input rows a capture file holds, and its latest time, from its
    footer alone (a file from before the input-row count was kept counts a row per request)."""
    from .capture import INPUT_ROWS_KEY
    from .capture_store import store_from_settings

    meta = store_from_settings().footer(endpoint, day, name)
    stored = (meta.metadata or {}).get(INPUT_ROWS_KEY.encode())
    latest = None
    names = meta.schema.names
    if "time" in names:
        index = names.index("time")
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index).statistics
            if stats is not None and stats.has_min_max:
                high = stats.max if isinstance(stats.max, datetime) else None
                if high is not None:
                    high = high.replace(tzinfo=UTC) if high.tzinfo is None else high
                    latest = high if latest is None else max(latest, high)
    return CaptureFooter(requests=meta.num_rows, input_rows=int(stored) if stored else meta.num_rows, last_time=latest)
