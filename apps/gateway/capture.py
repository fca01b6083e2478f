"""Request and response rows to Parquet, off the request path.

The request path calls ``CaptureWriter.offer`` (a sample check and a deque
append, no I/O, no parsing); a writer thread drains the buffer every
``flush_seconds`` (or sooner when a batch is full), reads the input rows,
masks sensitive columns and writes one Parquet file per endpoint and day per
batch, under ``<root>/endpoint=<name>/date=<YYYY-MM-DD>/part-*.parquet``
(Hive partitioning: DuckDB, pyarrow and Spark read the tree as one table).
A file is written under a temporary name and renamed, so readers never see a
half-written one.

Memory is bounded: past ``max_rows`` rows waiting, ``offer`` drops the row and
counts it (``dropped``), it never waits. ``close`` writes everything accepted.

Columns: ``event_id``, ``time`` (UTC), ``endpoint``, ``variant``, ``status``,
``latency_ms``, ``request`` (the input rows as a JSON array of row objects,
whatever the scoring format) and ``response`` (the predictions as JSON). JSON
text rather than flattened columns: one schema for every model and version,
so files of an endpoint always concatenate, even across a change of model
inputs; readers flatten with the model's schema (``json_normalize``,
DuckDB's ``json`` functions) when they profile.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import payloads

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Captured:
    """One request as the gateway answered it; parsed only in the writer thread."""

    event_id: str
    at: float  # epoch seconds
    endpoint: str
    variant: str
    status: int
    latency_ms: float
    request: bytes
    response: bytes


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


class CaptureWriter:
    def __init__(
        self,
        root: Path,
        *,
        sample: float = 1.0,
        max_rows: int = 100_000,
        batch_rows: int = 5_000,
        flush_seconds: float = 1.0,
        sensitive: Callable[[str], frozenset[str]] = lambda endpoint: frozenset(),
    ):
        self.root = Path(root)
        self.sample = sample
        self.max_rows = max_rows
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.sensitive = sensitive
        self.buffer: deque[Captured] = deque()
        self.accepted = 0
        self.dropped = 0
        self.written = 0
        self.files = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0

    # --- the request path --------------------------------------------------------

    def offer(self, row: Captured) -> bool:
        """Take the row if sampled and if there is room; never blocks."""
        if self.sample < 1.0 and random.random() >= self.sample:  # noqa: S311 (sampling, not security)
            return False
        if len(self.buffer) >= self.max_rows:
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
        self.flush()  # whatever arrived after the thread's last drain (or with no thread)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a full disk must not kill the thread; the rows stay counted as lost
                log.exception("Writing captured rows failed")

    def flush(self) -> int:
        """Write what is buffered now; the number of rows written."""
        total = 0
        while self.buffer:
            batch = []
            while self.buffer and len(batch) < self.batch_rows:
                batch.append(self.buffer.popleft())
            total += self._write(batch)
        return total

    def _write(self, batch: list[Captured]) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups: dict[tuple[str, str], list[Captured]] = {}
        for row in batch:
            day = datetime.fromtimestamp(row.at, UTC).strftime("%Y-%m-%d")
            groups.setdefault((row.endpoint, day), []).append(row)
        schema = _schema()
        for (endpoint, day), rows in groups.items():
            sensitive = self.sensitive(endpoint)
            columns = {
                "event_id": [r.event_id for r in rows],
                "time": [datetime.fromtimestamp(r.at, UTC) for r in rows],
                "endpoint": [endpoint] * len(rows),
                "variant": [r.variant for r in rows],
                "status": [r.status for r in rows],
                "latency_ms": [r.latency_ms for r in rows],
                "request": [
                    json.dumps(payloads.masked(payloads.request_rows(r.request), sensitive), separators=(",", ":"))
                    for r in rows
                ],
                "response": [payloads.response_predictions(r.response) for r in rows],
            }
            folder = self.root / f"endpoint={endpoint}" / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{self._seq:06d}.parquet"
            temporary = folder / f".{name}.tmp"
            pq.write_table(pa.table(columns, schema=schema), temporary)
            temporary.replace(folder / name)
            self.files += 1
            self.written += len(rows)
        return len(batch)
