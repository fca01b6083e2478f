"""Latency: the candidate scoring batches of held-out rows in the backend's
serving format, timed per batch.

Each batch is made the request body every backend's endpoint takes (JSON,
MLflow's ``dataframe_split``, as the gateway sends it), then read and scored
as the backend's model server reads and scores it (``ModelLoader.score_request``:
MLflow's scoring-server parsing against the model's schema for local and
Databricks, the scikit-learn image's handlers for SageMaker), answer included.
Measured in the portal's worker, without the network: what the model and its
server cost per request. Batches run for about ``BUDGET_SECONDS`` (at least
``MIN_BATCHES``, at most ``MAX_BATCHES``) after one warm-up batch.
"""

from __future__ import annotations

import json
import time

from apps.backends.base import ModelLoader, require
from apps.backends.jobs.payloads import JSON, dataframe_split_body

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .scoring import features_of, held_out, loaded_model

BUDGET_SECONDS = 2.0
MIN_BATCHES = 20
MAX_BATCHES = 1000
FORMAT = "application/json: MLflow dataframe_split (columns and rows), as the gateway sends it"


def batches(X, size: int):
    """Batches of ``size`` rows, going round the held-out rows as often as needed."""
    import numpy as np

    start = 0
    while True:
        yield X.iloc[np.arange(start, start + size) % len(X)]
        start = (start + size) % len(X)


def time_batches(loader, model, X, size: int) -> tuple[list[float], int]:
    """Milliseconds per batch (serialise, read, predict, answer) and the request size in bytes."""
    rows = batches(X, size)
    warm = next(rows)
    answer = json.loads(loader.score_request(model, dataframe_split_body(warm), JSON))
    predictions = answer.get("predictions", answer) if isinstance(answer, dict) else answer
    if len(predictions) != len(warm):
        raise ValueError(f"The endpoint would answer {len(predictions)} predictions for {len(warm)} rows.")
    timings, size_bytes = [], 0
    started = time.perf_counter()
    for batch in rows:
        begin = time.perf_counter()
        body = dataframe_split_body(batch)
        loader.score_request(model, body, JSON)
        timings.append((time.perf_counter() - begin) * 1000)
        size_bytes = max(size_bytes, len(body))
        spent = time.perf_counter() - started
        if len(timings) >= MAX_BATCHES or (len(timings) >= MIN_BATCHES and spent >= BUDGET_SECONDS):
            break
    return timings, size_bytes


@check_register(
    "latency",
    label="Latency",
    position=40,
    settings={"max_p95_ms": None, "batch_rows": 32},
    help="p50 / p95 per batch of batch_rows held-out rows in the backend's serving format; fails when p95 "
    "is above max_p95_ms (none: information only).",
)
def latency(ctx: CheckContext) -> CheckResult:
    import numpy as np

    version = ctx.request.model_version
    loader = require(ctx.backend, ModelLoader)
    data = held_out(version)
    model = loaded_model(ctx.backend, version)
    X = features_of(model, data.X, who="The candidate")
    size = max(1, int(ctx.settings.get("batch_rows") or 32))
    timings, size_bytes = time_batches(loader, model, X, size)
    p50, p95 = (float(v) for v in np.percentile(timings, [50, 95]))
    kind = getattr(ctx.backend, "kind", "the")
    figures = {
        "p50 (ms)": round(p50, 3),
        "p95 (ms)": round(p95, 3),
        "Mean (ms)": round(float(np.mean(timings)), 3),
        "Batches timed": len(timings),
        "Rows per batch": size,
        "Request format": FORMAT,
        "Request size (bytes)": size_bytes,
        "Measured": f"in the portal's worker, each request read and scored as the {kind} endpoint's model "
        "server does (no network)",
    }
    said = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms per batch of {size} rows in the {kind} endpoint's serving format"
    limit = ctx.settings.get("max_p95_ms")
    figures["Allowed p95 (ms)"] = limit
    if limit is not None and p95 > float(limit):
        return CheckResult(status=CheckStatus.FAILED, summary=f"{said}: over the allowed {limit} ms.", figures=figures)
    within = f", within the allowed {limit} ms" if limit is not None else ""
    return CheckResult(status=CheckStatus.PASSED, summary=f"{said}{within}.", figures=figures)
