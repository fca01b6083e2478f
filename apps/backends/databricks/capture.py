"""What a Databricks inference table recorded of an endpoint's traffic.

The endpoint's config names the table: ``auto_capture_config`` (catalog,
schema, table_name_prefix; the payload table is ``<prefix>_payload``, as its
``state.payload_table`` says). Its columns (Databricks' inference table for
custom models): ``databricks_request_id`` (the event's id),
``client_request_id`` (the caller's, if it gave one), ``timestamp_ms``,
``status_code``, ``execution_time_ms``, ``request`` and ``response`` (JSON
text, a batch of inputs in one row) and ``request_metadata`` (a map with
``model_name`` and ``model_version``: the served entity that answered is the
variant).

The table is read with the SQL Statement Execution API on the connection's SQL
warehouse (``warehouse_id``), in keyset pages (``jobs/table_window.py``, which the
cluster program profiling a window reads it with too): a window of any size is
read in bounded memory, and a page read twice gives the same rows.

AI Gateway inference tables (``ai_gateway.inference_table_config``, the kind
Databricks now recommends) have another schema (``request_time``,
``execution_duration_ms``, ``served_entity_id``) and are not read yet: such
an endpoint fails with a message saying so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from databricks.sdk import WorkspaceClient

from ..base import BackendError, CapturedEvent
from ..jobs.table_window import PAGE_ROWS, window_rows
from .client import errors
from .endpoints import get_detailed

COLUMNS = (
    "databricks_request_id",
    "client_request_id",
    "timestamp_ms",
    "status_code",
    "execution_time_ms",
    "request",
    "response",
    "request_metadata",
)


def payload_table(endpoint) -> str | None:
    """The full name of the endpoint's inference table, or None when it logs to none."""
    config = endpoint.config or endpoint.pending_config
    capture = getattr(config, "auto_capture_config", None)
    if capture is not None and capture.enabled is not False and capture.catalog_name and capture.schema_name:
        state = capture.state.payload_table if capture.state and capture.state.payload_table else None
        table = state.name if state and state.name else f"{capture.table_name_prefix or endpoint.name}_payload"
        return f"{capture.catalog_name}.{capture.schema_name}.{table}"
    gateway = getattr(endpoint, "ai_gateway", None)
    if gateway and gateway.inference_table_config and gateway.inference_table_config.enabled:
        raise BackendError(
            f"Endpoint {endpoint.name} logs to an AI Gateway inference table, which Atrium does not read yet "
            "(only the inference tables of auto_capture_config).",
            permanent=True,
        )
    return None


def entity_names(endpoint) -> dict[tuple[str, str], str]:
    """(model name, version) -> the served entity's name, for the current and the pending config."""
    names = {}
    for config in (endpoint.pending_config, endpoint.config):
        for entity in getattr(config, "served_entities", None) or []:
            names[(entity.entity_name or "", str(entity.entity_version or ""))] = entity.name
    return names


def event_of(row: dict, variants: dict[tuple[str, str], str]) -> CapturedEvent:
    try:
        metadata = json.loads(row["request_metadata"] or "{}")
    except ValueError:
        metadata = {}
    model, version = metadata.get("model_name") or "", str(metadata.get("model_version") or "")
    variant = variants.get((model, version)) or (f"{model.rsplit('.', 1)[-1]}-{version}" if model else "")
    return CapturedEvent(
        event_id=row["databricks_request_id"],
        at=int(row["timestamp_ms"]) / 1000.0,
        variant=variant,
        request=(row["request"] or "").encode(),
        request_type="application/json",
        response=(row["response"] or "").encode(),
        response_type="application/json",
        status=int(row["status_code"]) if row["status_code"] is not None else None,
        latency_ms=float(row["execution_time_ms"]) if row["execution_time_ms"] is not None else None,
        client_id=row["client_request_id"] or "",
    )


def read_capture(
    client: WorkspaceClient,
    warehouse_id: str | None,
    endpoint_name: str,
    *,
    since: datetime,
    until: datetime,
    chunk_rows: int = 5000,
    page_rows: int | None = None,
) -> Iterator[list[CapturedEvent]]:
    page_rows = page_rows or PAGE_ROWS
    endpoint = get_detailed(client, endpoint_name, missing_ok=True)
    table = payload_table(endpoint) if endpoint is not None else None
    if table is None:
        return
    if not warehouse_id:
        raise BackendError(
            f"Reading the inference table of {endpoint_name} needs a SQL warehouse: "
            "set the connection's 'warehouse_id'.",
            permanent=True,
        )
    variants = entity_names(endpoint)
    since_ms, until_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    chunk: list[CapturedEvent] = []
    with errors(f"read the inference table {table}"):
        rows = window_rows(
            client, warehouse_id, table, columns=COLUMNS, since_ms=since_ms, until_ms=until_ms, page_rows=page_rows
        )
        for row in rows:
            chunk.append(event_of(row, variants))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
