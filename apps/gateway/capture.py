"""Request and response rows to Parquet, off the request path.

The request path calls ``CaptureWriter.offer`` (a sample check and a deque
append, no I/O, no parsing); a writer thread drains the buffer every
``flush_seconds`` (or sooner when a batch is full), reads the input rows,
masks sensitive columns and writes one Parquet file per endpoint and day per
batch into the capture store (``capture_store``: a folder or an S3 prefix,
``<root>/endpoint=<name>/date=<YYYY-MM-DD>/part-*.parquet``).

Memory is bounded: past ``max_rows`` rows waiting (a batch whose write failed
and waits to be tried again included), ``offer`` drops the row and counts it
(``dropped``), it never waits. A failed write (S3 away, a full disk) is tried
again at the next drain; after ``WRITE_ATTEMPTS`` its rows are counted as
``failed``. ``close`` writes everything accepted.

Columns: ``event_id``, ``time`` (UTC), ``endpoint``, ``variant``, ``status``,
``latency_ms``, ``request`` (the input rows as a JSON array of row objects,
whatever the scoring format) and ``response`` (the predictions as JSON). JSON
text rather than flattened columns: one schema for every model and version,
so files of an endpoint always concatenate, even across a change of model
inputs; readers flatten with the model's schema (``json_normalize``,
DuckDB's ``json`` functions) when they profile. Each file's footer says how many
input rows its requests carry (``atrium.input_rows``), so a reader counts new rows
without reading any (monitoring's capture-volume schedule). SageMaker Data Capture and
Databricks inference tables are read into the same columns
(``cloud_capture``); ``status`` and ``latency_ms`` are null where the cloud
does not record them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import payloads
from .capture_store import CaptureStore, LocalStore, open_store

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3  # drains a failed batch is tried at before its rows count as failed
# What the gateway calls a request it forwards, where the backend keeps a caller's id
# (SageMaker's InferenceId): the cloud's capture of it is then known as the gateway's.
FORWARDED_PREFIX = "atrium-"
INPUT_ROWS_KEY = "atrium.input_rows"  # footer metadata: the input rows of a capture file's requests


@dataclass(slots=True)
class Captured:
    """One request as the gateway answered it; parsed only in the writer thread.
    ``sensitive``: the columns the endpoint's models mark as sensitive (from the
    cached route: no lookup per request)."""

    event_id: str
    at: float  # epoch seconds
    endpoint: str
    variant: str
    status: int | None
    latency_ms: float | None
    request: bytes
    response: bytes
    sensitive: frozenset[str] = field(default_factory=frozenset)


def sensitive_lookup(entries: list[str]) -> Callable[[str], frozenset[str]]:
    """GATEWAY_SENSITIVE_COLUMNS as a lookup by endpoint: "column" masks it everywhere, "endpoint:column" there."""
    everywhere = frozenset(e for e in entries if ":" not in e)
    scoped: dict[str, set[str]] = {}
    for entry in entries:
        if ":" in entry:
            endpoint, column = entry.split(":", 1)
            scoped.setdefault(endpoint, set()).add(column)
    by_endpoint = {name: frozenset(columns | everywhere) for name, columns in scoped.items()}
    return lambda endpoint: by_endpoint.get(endpoint, everywhere)


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("event_id", pa.string()),
            ("time", pa.timestamp("ms", tz="UTC")),
            ("endpoint", pa.string()),
            ("variant", pa.string()),
            ("status", pa.int16()),
            ("latency_ms", pa.float32()),
            ("request", pa.string()),
            ("response", pa.string()),
        ]
    )


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def capture_table(endpoint: str, rows: list[Captured], sensitive: frozenset[str] = frozenset()):
    """The rows of one endpoint in the capture format (a pyarrow table), the
    request's input rows read and their sensitive columns masked."""
    import pyarrow as pa

    inputs = [payloads.request_rows(r.request) for r in rows]
    columns = {
        "event_id": [r.event_id for r in rows],
        "time": [datetime.fromtimestamp(r.at, UTC) for r in rows],
        "endpoint": [endpoint] * len(rows),
        "variant": [r.variant for r in rows],
        "status": [r.status for r in rows],
        "latency_ms": [r.latency_ms for r in rows],
        "request": [
            json.dumps(payloads.masked(found, sensitive | r.sensitive), separators=(",", ":"))
            for found, r in zip(inputs, rows, strict=True)
        ],
        "response": [payloads.response_predictions(r.response) for r in rows],
    }
    # The input rows in the file, in its footer: a capture-volume monitor counts new rows from
    # footers alone, without reading (or parsing) any request.
    metadata = {INPUT_ROWS_KEY: str(sum(len(found) for found in inputs))}
    return pa.table(columns, schema=_schema().with_metadata(metadata))


class CaptureWriter:
    def __init__(
        self,
        root: str | Path | CaptureStore,
        *,
        sample: float = 1.0,
        max_rows: int = 100_000,
        batch_rows: int = 5_000,
        flush_seconds: float = 1.0,
        sensitive: Callable[[str], frozenset[str]] = lambda endpoint: frozenset(),
    ):
        self.store: CaptureStore = open_store(root) if isinstance(root, str | Path) else root
        self.root = self.store.root if isinstance(self.store, LocalStore) else None  # a folder, for local readers
        self.sample = sample
        self.max_rows = max_rows
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.sensitive = sensitive
        self.buffer: deque[Captured] = deque()
        self.accepted = 0
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self.files = 0
        self._retry: list[tuple[list[Captured], int]] = []  # (batch, failed attempts), tried at the next drain
        self._retry_rows = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        # Several gateway processes (on several hosts) may write one S3 prefix: names must not collide.
        self._writer_id = f"{os.getpid()}-{secrets.token_hex(4)}"

    # --- the request path --------------------------------------------------------

    def offer(self, row: Captured) -> bool:
        """Take the row if sampled and if there is room; never blocks."""
        if self.sample < 1.0 and random.random() >= self.sample:  # noqa: S311 (sampling, not security)
            return False
        if len(self.buffer) + self._retry_rows >= self.max_rows:
            self.dropped += 1
            return False
        self.buffer.append(row)
        self.accepted += 1
        if len(self.buffer) >= self.batch_rows:
            self._wake.set()
        return True

    # --- the writer thread ---------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gateway-capture", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after it has written everything accepted."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush(final=True)  # whatever arrived after the thread's last drain (or with no thread)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self, *, final: bool = False) -> int:
        """Write what is buffered now (and batches waiting to be tried again); the rows written."""
        total = 0
        retry, self._retry, self._retry_rows = self._retry, [], 0
        for batch, attempts in retry:
            total += self._attempt(batch, attempts, final)
        while self.buffer:
            batch = []
            while self.buffer and len(batch) < self.batch_rows:
                batch.append(self.buffer.popleft())
            total += self._attempt(batch, 0, final)
        return total

    def _attempt(self, batch: list[Captured], attempts: int, final: bool) -> int:
        try:
            return self._write(batch)
        except Exception:  # S3 away, a full disk: must not kill the thread nor lose the rows at once
            attempts += 1
            if final or attempts >= WRITE_ATTEMPTS:
                log.exception("Writing %s captured rows failed %s times; they are lost", len(batch), attempts)
                self.failed += len(batch)
            else:
                log.warning("Writing %s captured rows failed; trying again", len(batch), exc_info=True)
                self._retry.append((batch, attempts))
                self._retry_rows += len(batch)
            return 0

    def _write(self, batch: list[Captured]) -> int:
        groups: dict[tuple[str, str], list[Captured]] = {}
        for row in batch:
            groups.setdefault((row.endpoint, day_of(row.at)), []).append(row)
        done = []
        try:
            for (endpoint, day), rows in groups.items():
                table = capture_table(endpoint, rows, self.sensitive(endpoint))
                self._seq += 1
                name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{self._writer_id}-{self._seq:06d}.parquet"
                self.store.put(endpoint, day, name, table)
                self.files += 1
                self.written += len(rows)
                done.append((endpoint, day))
        except Exception:
            # Only the groups not yet written are tried again (a retry must not write a row twice).
            batch[:] = [row for row in batch if (row.endpoint, day_of(row.at)) not in done]
            raise
        return len(batch)
