"""The gateway's per-minute rollups: added to by gateway processes (one upsert
per batch), read as per-variant figures by the rollout controller and as
series by the endpoint page. Percentiles come from the summed histogram
buckets, so any number of gateway processes and minutes merge exactly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.db import connection, transaction
from django.db.models import Sum

from .models import BUCKET_FIELDS, LATENCY_BOUNDS_MS, EndpointMinute

SUMMED = ("requests", "errors", "client_errors", "latency_ms_sum", "model_latency_ms_sum", "bytes_in", "bytes_out")


@dataclass
class MinuteCounts:
    """What one gateway process counted for one endpoint variant in one minute."""

    endpoint_id: object
    variant: str
    minute: datetime  # truncated to the minute, aware
    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    latency_ms_sum: float = 0.0
    model_latency_ms_sum: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))

    def add(self, *, status: int, latency_ms: float, model_latency_ms: float, bytes_in: int, bytes_out: int) -> None:
        self.requests += 1
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1
        self.latency_ms_sum += latency_ms
        self.model_latency_ms_sum += model_latency_ms
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        self.buckets[bucket_of(latency_ms)] += 1


def bucket_of(latency_ms: float) -> int:
    return int(np.searchsorted(LATENCY_BOUNDS_MS, latency_ms, side="left"))


def minutes_record(rows: Iterable[MinuteCounts]) -> int:
    """Add ``rows`` to the rollups in one statement (insert, or add to the minute's row)."""
    rows = _merged(r for r in rows if r.requests)
    if not rows:
        return 0
    table = EndpointMinute._meta.db_table
    columns = ["endpoint_id", "variant", "minute", *SUMMED, *BUCKET_FIELDS]
    endpoint_field = EndpointMinute._meta.get_field("endpoint").target_field
    minute_field = EndpointMinute._meta.get_field("minute")
    values = []
    for row in rows:
        values.extend(
            [
                endpoint_field.get_db_prep_value(row.endpoint_id, connection),
                row.variant,
                minute_field.get_db_prep_value(row.minute, connection),
                *(getattr(row, name) for name in SUMMED),
                *row.buckets,
            ]
        )
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in (*SUMMED, *BUCKET_FIELDS))
    # Names come from the model, every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT (endpoint_id, variant, minute) DO UPDATE SET {added}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, values)
    return len(rows)


def _merged(rows: Iterable[MinuteCounts]) -> list[MinuteCounts]:
    """One row per key (an upsert may touch a row once), in key order (concurrent
    upserts from several gateway processes then lock rows in the same order)."""
    merged: dict[tuple, MinuteCounts] = {}
    for row in rows:
        key = (str(row.endpoint_id), row.variant, row.minute)
        if key not in merged:
            merged[key] = MinuteCounts(endpoint_id=row.endpoint_id, variant=row.variant, minute=row.minute)
        total = merged[key]
        for name in SUMMED:
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.buckets = [a + b for a, b in zip(total.buckets, row.buckets, strict=True)]
    return [merged[key] for key in sorted(merged)]


@dataclass(frozen=True)
class Figures:
    """A variant's behaviour over a window, as the rollout controller judges it."""

    requests: int
    errors: int
    client_errors: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def percentile(buckets, q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, linear inside its bucket."""
    counts = np.asarray(buckets, dtype=float)
    total = counts.sum()
    if total <= 0:
        return None
    cumulative = np.cumsum(counts)
    index = int(np.searchsorted(cumulative, q * total, side="left"))
    upper_bounds = (*LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[-1] * 2)  # the open bucket read as up to twice the last
    low = 0.0 if index == 0 else upper_bounds[index - 1]
    high = upper_bounds[index]
    before = cumulative[index - 1] if index else 0.0
    share = (q * total - before) / counts[index] if counts[index] else 1.0
    return float(low + (high - low) * min(max(share, 0.0), 1.0))


def figures_by_variant(*, endpoint_id, since: datetime, until: datetime | None = None) -> dict[str, Figures]:
    """Each variant's figures from ``since`` (inclusive) to ``until`` (exclusive), summed in SQL."""
    rows = EndpointMinute.objects.filter(endpoint_id=endpoint_id, minute__gte=since)
    if until is not None:
        rows = rows.filter(minute__lt=until)
    sums = rows.values("variant").annotate(**{f"s_{name}": Sum(name) for name in (*SUMMED, *BUCKET_FIELDS)})
    result = {}
    for row in sums:
        buckets = [row[f"s_{name}"] or 0 for name in BUCKET_FIELDS]
        requests = row["s_requests"] or 0
        result[row["variant"]] = Figures(
            requests=requests,
            errors=row["s_errors"] or 0,
            client_errors=row["s_client_errors"] or 0,
            mean_ms=(row["s_latency_ms_sum"] / requests) if requests else None,
            p50_ms=percentile(buckets, 0.50),
            p95_ms=percentile(buckets, 0.95),
            p99_ms=percentile(buckets, 0.99),
        )
    return result


def series(*, endpoint_id, since: datetime, until: datetime) -> dict[str, dict[str, list]]:
    """Per variant, per minute: requests, errors, mean and p95 latency (for the charts)."""
    rows = (
        EndpointMinute.objects.filter(endpoint_id=endpoint_id, minute__gte=since, minute__lt=until)
        .order_by("minute")
        .values_list("variant", "minute", "requests", "errors", "latency_ms_sum", *BUCKET_FIELDS)
    )
    out: dict[str, dict[str, list]] = {}
    for variant, minute, requests, errors, latency_sum, *buckets in rows:
        s = out.setdefault(variant, {"minute": [], "requests": [], "errors": [], "mean_ms": [], "p95_ms": []})
        s["minute"].append(minute)
        s["requests"].append(requests)
        s["errors"].append(errors)
        s["mean_ms"].append(latency_sum / requests if requests else None)
        s["p95_ms"].append(percentile(buckets, 0.95))
    return out
