"""Per-request counts, summed in memory per endpoint, variant and minute
(``MinuteCounts``) and added to the database's rollups every few seconds by a
background thread (one upsert per flush) — never on the request path. On
shutdown what is left is flushed; a failed flush keeps its counts for the
next one."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from apps.deployments.telemetry import MinuteCounts, minutes_record

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, *, flush_seconds: float = 2.0):
        self.flush_seconds = flush_seconds
        self.counts: dict[tuple, MinuteCounts] = {}
        self.recorded = 0  # requests added to the database so far
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._minute_key = (0, None)  # (epoch minute, aware datetime): one datetime per minute

    def add(
        self,
        *,
        endpoint_id: str,
        variant: str,
        at: float,
        status: int,
        latency_ms: float,
        model_latency_ms: float,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        epoch_minute = int(at // 60)
        if self._minute_key[0] != epoch_minute:
            self._minute_key = (epoch_minute, datetime.fromtimestamp(epoch_minute * 60, UTC))
        minute = self._minute_key[1]
        key = (endpoint_id, variant, epoch_minute)
        with self._lock:
            row = self.counts.get(key)
            if row is None:
                row = self.counts[key] = MinuteCounts(endpoint_id=endpoint_id, variant=variant, minute=minute)
            row.add(
                status=status,
                latency_ms=latency_ms,
                model_latency_ms=model_latency_ms,
                bytes_in=bytes_in,
                bytes_out=bytes_out,
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gateway-telemetry", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        from django.db import close_old_connections

        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:
                log.exception("Recording the gateway's telemetry failed; kept for the next flush")
            finally:
                close_old_connections()

    def flush(self) -> int:
        with self._lock:
            rows, self.counts = self.counts, {}
        if not rows:
            return 0
        try:
            minutes_record(rows.values())
        except Exception:
            with self._lock:  # put them back, added to what came meanwhile
                for key, row in rows.items():
                    current = self.counts.get(key)
                    if current is None:
                        self.counts[key] = row
                    else:
                        _merge(current, row)
            raise
        self.recorded += sum(row.requests for row in rows.values())
        return len(rows)


def _merge(into: MinuteCounts, row: MinuteCounts) -> None:
    for name in (
        "requests",
        "errors",
        "client_errors",
        "latency_ms_sum",
        "model_latency_ms_sum",
        "bytes_in",
        "bytes_out",
    ):
        setattr(into, name, getattr(into, name) + getattr(row, name))
    into.buckets = [a + b for a, b in zip(into.buckets, row.buckets, strict=True)]
