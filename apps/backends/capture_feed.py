"""The capability of endpoints whose cloud captures their traffic (SageMaker Data
Capture, Databricks inference tables), and what it reads: importable from
``base`` with the other capabilities."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CapturedEvent:
    """One request an endpoint answered, as its cloud captured it (SageMaker Data Capture, a
    Databricks inference table): the bodies as received and sent, with their content types;
    None where the cloud records no status or latency; ``client_id``, the caller's id for it."""

    event_id: str
    at: float  # epoch seconds
    variant: str
    request: bytes
    request_type: str
    response: bytes
    response_type: str
    status: int | None = None
    latency_ms: float | None = None
    client_id: str = ""


@runtime_checkable
class CaptureFeed(Protocol):
    """Endpoints whose cloud captures their traffic (SageMaker Data Capture, Databricks inference tables)."""

    def read_capture(
        self,
        endpoint: str,
        *,
        since: datetime,
        until: datetime,
        modified_after: datetime | None = None,
        chunk_rows: int = 5000,
    ) -> Iterator[list[CapturedEvent]]:
        """What ``endpoint`` answered in [since, until), as its cloud captured it, in chunks of at
        most ``chunk_rows`` events read as they are yielded (bounded memory); nothing when it
        captures nothing. ``modified_after``: what the cloud stored before then may be skipped."""
        ...
