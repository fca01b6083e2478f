"""Cloud capture, in the gateway's capture format: what SageMaker Data Capture
and Databricks inference tables recorded of an endpoint's traffic (each
backend reads its own: ``CaptureFeed``) is written into the capture store as
the gateway writes its rows (``capture_table``: the same columns, the same
masking, the same endpoint/date layout), so monitoring reads all traffic alike.

Idempotent: event ids are the cloud's own (SageMaker's eventId, Databricks'
databricks_request_id). Before rows are written, the ids already in the store
from the same source in the same hour are left out, so a file or a table range
read twice adds nothing; and a file is named by the ids it holds
(``part-<source>-<hour>-<digest>.parquet``), so a pull that dies after writing
writes that file again, never a second one.

A request that came through the gateway is the gateway's to capture: the
gateway sends its event id, prefixed, as the request's id where the backend
keeps one (SageMaker's InferenceId in a header; Databricks' client_request_id,
a member the gateway adds to the JSON body unless the client gave its own),
and the cloud's copy is skipped. A Databricks request whose client set its own
client_request_id is captured by both.

``pull`` is what the beat runs per endpoint (``tasks``): it reads from where
the endpoint's ``CaptureCursor`` says, an overlap earlier for what the cloud
lands late (Databricks: within the hour; SageMaker: files every few minutes),
at most a window at a time, holding a lease so two pulls never read one
endpoint at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.backends.base import BackendError, CapturedEvent, CaptureFeed
from apps.connections.models import Connection
from apps.connections.services import connection_backend
from apps.deployments.selectors import endpoint_ref, endpoint_route

from . import payloads
from .capture import FORWARDED_PREFIX, Captured, capture_table, sensitive_lookup
from .capture_store import CaptureStore, store_from_settings
from .models import CaptureCursor

log = logging.getLogger(__name__)

KNOWN_HOURS = 6  # hours whose stored ids are kept in memory at once (the others are read again if needed)
CLOCK_SKEW = timedelta(minutes=5)  # between this machine and the cloud's file times


@dataclass
class PullResult:
    read: int = 0  # events the cloud had in the window
    written: int = 0  # rows new to the store
    already: int = 0  # events the store had (read before)
    gateways: int = 0  # requests the gateway sent, and captured itself
    behind: bool = False  # the window stopped short of now: pull again


def _csv_rows(data: bytes) -> list:
    rows = [line.split(",") for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return [payloads.cell(row[0]) if len(row) == 1 else [payloads.cell(v) for v in row] for row in rows]


def captured_of(endpoint: str, event: CapturedEvent) -> Captured:
    """A cloud event as the gateway's row: a CSV request read as MLflow's ``dataframe_split``
    (headerless, as SageMaker's CSV convention is), a CSV answer as a list of values."""
    request = event.request
    if event.request_type.split(";", 1)[0].strip().lower() == payloads.CSV:
        with contextlib.suppress(payloads.BadPayload):  # else kept as it came (request_rows keeps the text)
            request = payloads.csv_as_json(request, "text/csv; header=absent")
    response = event.response
    if event.response_type.split(";", 1)[0].strip().lower() == payloads.CSV:
        response = json.dumps(_csv_rows(response)).encode()
    status, latency = event.status, event.latency_ms
    return Captured(event.event_id, event.at, endpoint, event.variant, status, latency, request, response)


class KnownIds:
    """The event ids the store holds from one source, by hour, read from the store on first
    need; at most KNOWN_HOURS hours in memory (the store stays the truth: a dropped hour is
    read again)."""

    def __init__(self, store: CaptureStore, endpoint: str, source: str):
        self.store, self.endpoint, self.source = store, endpoint, source
        self.hours: OrderedDict[str, set[str]] = OrderedDict()

    def of(self, hour: str) -> set[str]:
        if hour not in self.hours:
            ids: set[str] = set()
            for name in self.store.names(self.endpoint, hour[:10], f"part-{self.source}-{hour}-"):
                ids.update(self.store.read(self.endpoint, hour[:10], name, ["event_id"]).column(0).to_pylist())
            self.hours[hour] = ids
            while len(self.hours) > KNOWN_HOURS:
                self.hours.popitem(last=False)
        self.hours.move_to_end(hour)
        return self.hours[hour]


def capture_read(
    backend: CaptureFeed,
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    store: CaptureStore,
    source: str,
    sensitive: frozenset[str] = frozenset(),
    modified_after: datetime | None = None,
    chunk_rows: int = 5000,
) -> PullResult:
    """Read what ``backend``'s cloud captured of ``endpoint`` in [since, until) into ``store``."""
    result, known = PullResult(), KnownIds(store, endpoint, source)
    chunks = backend.read_capture(
        endpoint, since=since, until=until, modified_after=modified_after, chunk_rows=chunk_rows
    )
    for chunk in chunks:
        by_hour: dict[str, dict[str, Captured]] = {}
        for event in chunk:
            result.read += 1
            if event.client_id.startswith(FORWARDED_PREFIX):
                result.gateways += 1
                continue
            hour = datetime.fromtimestamp(event.at, UTC).strftime("%Y-%m-%dT%H")
            by_hour.setdefault(hour, {})[event.event_id] = captured_of(endpoint, event)
        for hour, rows in by_hour.items():
            ids = known.of(hour)
            new = [row for event_id, row in rows.items() if event_id not in ids]
            result.already += len(rows) - len(new)
            if not new:
                continue
            new.sort(key=lambda row: (row.at, row.event_id))
            digest = hashlib.sha256("\n".join(row.event_id for row in new).encode()).hexdigest()[:16]
            name = f"part-{source}-{hour}-{digest}.parquet"
            store.put(endpoint, hour[:10], name, capture_table(endpoint, new, sensitive))
            ids.update(row.event_id for row in new)
            result.written += len(new)
    return result


# --- the beat's pull, per endpoint -------------------------------------------------------


def _lease(endpoint_id: str, now: datetime) -> CaptureCursor | None:
    """The endpoint's cursor, held for this pull; None when another pull holds it."""
    CaptureCursor.objects.get_or_create(endpoint_id=endpoint_id)
    until = now + timedelta(seconds=settings.GATEWAY_CLOUD_CAPTURE_LEASE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if not CaptureCursor.objects.filter(free, endpoint_id=endpoint_id).update(lease_until=until):
        return None
    return CaptureCursor.objects.get(endpoint_id=endpoint_id)


def pull(*, endpoint_id: str, now: datetime | None = None, store: CaptureStore | None = None) -> PullResult | None:
    """Read the endpoint's new cloud capture into the store and move its cursor on.
    None when there is nothing to do here (the endpoint is gone, its backend captures
    nothing, another pull holds it). A BackendError leaves the cursor where it was."""
    ref = endpoint_ref(pk=endpoint_id)
    if ref is None or ref.connection_id is None:
        return None
    backend = connection_backend(Connection.objects.get(pk=ref.connection_id))
    if not isinstance(backend, CaptureFeed):
        return None
    now = now or timezone.now()
    cursor = _lease(endpoint_id, now)
    if cursor is None:
        return None
    overlap = timedelta(seconds=settings.GATEWAY_CLOUD_CAPTURE_OVERLAP_SECONDS)
    if cursor.read_until is None:
        since = now - timedelta(hours=settings.GATEWAY_CLOUD_CAPTURE_BACKFILL_HOURS)
    else:
        since = cursor.read_until - overlap
    until = min(now, since + timedelta(hours=settings.GATEWAY_CLOUD_CAPTURE_WINDOW_HOURS))
    route = endpoint_route(name=ref.name)
    sensitive = (route.sensitive if route else frozenset()) | sensitive_lookup(
        list(settings.GATEWAY_SENSITIVE_COLUMNS)
    )(ref.name)
    try:
        result = capture_read(
            backend,
            ref.name,
            since=since,
            until=until,
            store=store or store_from_settings(),
            source=backend.kind,
            sensitive=sensitive,
            modified_after=cursor.complete_at - CLOCK_SKEW if cursor.complete_at else None,
        )
    except BackendError as exc:
        CaptureCursor.objects.filter(pk=cursor.pk).update(error=exc.message[:2000], pulled_at=now, lease_until=None)
        raise
    except Exception as exc:  # a bug or a bad file: said on the cursor, the lease let go
        CaptureCursor.objects.filter(pk=cursor.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000], lease_until=None)
        raise
    result.behind = until < now
    changes = {"read_until": until, "pulled_at": now, "error": "", "lease_until": None}
    if not result.behind:
        changes["complete_at"] = now
    CaptureCursor.objects.filter(pk=cursor.pk).update(rows=cursor.rows + result.written, **changes)
    log.info("Cloud capture of %s up to %s: %s", ref.name, until.isoformat(), result)
    return result
