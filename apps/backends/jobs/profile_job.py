"""Profiling a window of an endpoint's traffic where it lives: what a Databricks job
run of ``cluster_job.py --mode profile`` does on its cluster, so the portal's worker
never loads the window. It reads the endpoint's inference table in
``[since_ms, until_ms)`` chunk by chunk, reads each request's input rows as the
portal's capture reads them (``capture_rows``: the same formats, the same masking of
sensitive columns), profiles each chunk (``profiles.profile_frame``) and merges the
profiles: memory is bounded by a chunk plus the profile (its exact part at most
``EXACT_BOUND`` values a column, then a KLL sketch), whatever the window's size.

The merged profile is written, serialized (``DatasetProfile.to_bytes``), to the spec's
``output``: a path below the connection's data root, a Unity Catalog volume on
Databricks (``/Volumes/...``, written as a file as Python writes any: volumes are
mounted on clusters), which the backend then downloads with the Files API. The outputs
line says where, and how many rows and requests it profiled.

Where the rows come from: Spark's ``spark.table`` on a Databricks cluster (rows
streamed to the driver a partition at a time by ``toLocalIterator``); with no Spark
(a serverless Python task, or the Databricks stand-in, which has no cluster) the SQL
Statement Execution API on the spec's ``warehouse_id`` with the job's own workspace
credentials (``WorkspaceClient()``'s default authentication: a cluster's runtime, or
``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN``), in keyset pages (``table_window``).

Every request in the table is profiled, those the gateway forwarded too: the table is
the endpoint's complete record, and the portal reads no other copy of the window then.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from apps.backends.jobs.capture_rows import masked, request_rows, rows_table
from apps.backends.jobs.profiles import EXACT_BOUND, DatasetProfile, profile_frame, profile_merge
from apps.backends.jobs.table_window import quoted, window_rows

CHUNK_REQUESTS = 5000  # requests profiled at once: a chunk of JSON text, then its rows


def spark_requests(table: str, since_ms: int, until_ms: int, chunk: int) -> Iterator[list[str]]:
    """The window's request bodies through Spark, a chunk at a time on the driver."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    frame = (
        spark.table(quoted(table))
        .where((F.col("timestamp_ms") >= since_ms) & (F.col("timestamp_ms") < until_ms))
        .select("request")
    )
    rows = frame.toLocalIterator(prefetchPartitions=False)  # one partition on the driver at a time
    yield from _chunked((row["request"] for row in rows), chunk)


def warehouse_requests(table: str, since_ms: int, until_ms: int, chunk: int, warehouse_id: str):
    """The window's request bodies through the SQL warehouse, a chunk at a time."""
    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient()  # the job's own credentials, never the portal's token
    rows = window_rows(client, warehouse_id, table, columns=("request",), since_ms=since_ms, until_ms=until_ms)
    yield from _chunked((row["request"] for row in rows), chunk)


def _chunked(requests: Iterable[str | None], chunk: int) -> Iterator[list[str]]:
    """The request bodies (empty ones left out) in lists of ``chunk``."""
    texts: list[str] = []
    for text in requests:
        if text:
            texts.append(text)
        if len(texts) >= chunk:
            yield texts
            texts = []
    if texts:
        yield texts


def request_chunks(spec: dict) -> Iterator[list[str]]:
    table, since_ms, until_ms = spec["table"], int(spec["since_ms"]), int(spec["until_ms"])
    chunk = int(spec.get("chunk_requests") or CHUNK_REQUESTS)
    if importlib.util.find_spec("pyspark") is not None:
        return spark_requests(table, since_ms, until_ms, chunk)
    if not spec.get("warehouse_id"):
        raise ValueError(f"Reading {table} needs Spark (a cluster) or a SQL warehouse (the connection's warehouse_id).")
    return warehouse_requests(table, since_ms, until_ms, chunk, spec["warehouse_id"])


class Merging:
    """Chunk profiles merged as a binary counter merges: pairs of equal size, so each value
    of an exact sample is copied O(log chunks) times, not once per later chunk, and at most
    O(log chunks) profiles are held (their samples together at most the window's)."""

    def __init__(self):
        self.stack: list[tuple[int, DatasetProfile]] = []  # (chunks merged, profile), oldest first

    def add(self, profile: DatasetProfile) -> None:
        size = 1
        while self.stack and self.stack[-1][0] == size:
            profile = profile_merge(self.stack.pop()[1], profile)  # the earlier first: the rows' order kept
            size *= 2
        self.stack.append((size, profile))

    def result(self) -> DatasetProfile | None:
        profile = None
        for _, part in reversed(self.stack):
            profile = part if profile is None else profile_merge(part, profile)
        return profile


def profile_window(spec: dict) -> dict:
    """The window profiled and written to ``spec["output"]``; the outputs the backend reads."""
    sensitive = frozenset(spec.get("sensitive") or ())
    exact_bound = spec.get("exact_bound", EXACT_BOUND)
    merging, requests = Merging(), 0
    for texts in request_chunks(spec):
        requests += len(texts)
        rows = [row for text in texts for row in masked(request_rows(text), sensitive)]
        table = rows_table(rows)
        if table is not None:
            merging.add(profile_frame(table, exact_bound=exact_bound))
    profile = merging.result()
    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}")
    partial.write_bytes((profile or DatasetProfile()).to_bytes())
    partial.replace(output)  # whole or not at all: a retried task never leaves half a profile
    return {
        "profile_path": str(output),
        "rows": profile.rows if profile else 0,
        "requests": requests,
        "exact": bool(profile.exact) if profile else True,
    }
