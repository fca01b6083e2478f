"""Part of the Databricks STAND-IN (not Databricks): inference tables, the
legacy kind a serving endpoint's ``auto_capture_config`` enables (catalog_name,
schema_name, table_name_prefix, enabled).

Each invocation of such an endpoint adds a row to the payload table
``<catalog>.<schema>.<prefix>_payload`` (the prefix defaults to the endpoint's
name), with Databricks' columns for it:

    databricks_request_id STRING, client_request_id STRING, date DATE,
    timestamp_ms LONG, status_code INT, sampling_fraction DOUBLE,
    execution_time_ms LONG, request STRING, response STRING,
    request_metadata MAP<STRING, STRING>  (endpoint_name, model_name, model_version)

A batch of inputs is one row, as on Databricks; ``client_request_id`` is
taken from the request body (and not shown to the model). Failed invocations
are logged too, with their status. Unlike Databricks (which lands rows within
the hour) rows are there at once. They are read with SQL through the
statement execution API (``.sql``). The state keeps the newest ``MAX_ROWS`` of
a table, so the state file stays small; the config is not checked against
Unity Catalog (no schema needs to exist, no permission is asked).

A config update that says nothing of ``auto_capture_config`` keeps the
endpoint's (an enabled table's catalog, schema and prefix cannot change, as on
Databricks).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from databricks.sdk.service import serving

from .router import invalid

MAX_ROWS = 5_000  # the state file is rewritten after every request: kept small
PAYLOAD_COLUMNS = (
    ("databricks_request_id", "STRING"),
    ("client_request_id", "STRING"),
    ("date", "DATE"),
    ("timestamp_ms", "LONG"),
    ("status_code", "INT"),
    ("sampling_fraction", "DOUBLE"),
    ("execution_time_ms", "LONG"),
    ("request", "STRING"),
    ("response", "STRING"),
    ("request_metadata", "MAP<STRING, STRING>"),
)


def capture_config(raw: dict | None, previous: dict | None, endpoint_name: str) -> dict | None:
    """The stored capture settings after a config update."""
    if raw is None:
        return previous
    given = serving.AutoCaptureConfigInput.from_dict(raw)
    if previous and previous["enabled"]:
        for field in ("catalog_name", "schema_name", "table_name_prefix"):
            value = getattr(given, field)
            if value is not None and value != previous[field]:
                raise invalid(f"The {field} of an enabled inference table cannot change.")
        return {**previous, "enabled": given.enabled is not False}
    if given.enabled is False:
        return {**(previous or {}), "enabled": False} if previous else None
    if not given.catalog_name or not given.schema_name:
        raise invalid("auto_capture_config needs catalog_name and schema_name.")
    return {
        "catalog_name": given.catalog_name.lower(),
        "schema_name": given.schema_name.lower(),
        "table_name_prefix": (given.table_name_prefix or endpoint_name).lower(),
        "enabled": True,
    }


def payload_table(stored: dict) -> str:
    """The payload table's full name."""
    return f"{stored['catalog_name']}.{stored['schema_name']}.{stored['table_name_prefix']}_payload"


def config_json(stored: dict) -> dict:
    table = serving.PayloadTable(name=f"{stored['table_name_prefix']}_payload", status="ACTIVE")
    return serving.AutoCaptureConfigOutput(
        catalog_name=stored["catalog_name"],
        schema_name=stored["schema_name"],
        table_name_prefix=stored["table_name_prefix"],
        enabled=stored["enabled"],
        state=serving.AutoCaptureState(payload_table=table),
    ).as_dict()


class InferenceTables:
    """Mixed into ``DatabricksStandIn``: uses its state."""

    def _log_inference(
        self,
        endpoint: dict,
        entity: dict,
        payload: dict,
        client_request_id: str | None,
        status: int,
        response: bytes,
        started: float,
    ) -> None:
        stored = (endpoint["config"] or {}).get("auto_capture")
        if not stored or not stored["enabled"]:
            return
        now = datetime.now(UTC)
        row = {
            "databricks_request_id": str(uuid.uuid4()),
            "client_request_id": client_request_id,
            "date": now.date().isoformat(),
            "timestamp_ms": int(now.timestamp() * 1000),
            "status_code": status,
            "sampling_fraction": 1.0,
            "execution_time_ms": int((time.monotonic() - started) * 1000),
            "request": json.dumps(payload),
            "response": response.decode("utf-8", errors="replace"),
            "request_metadata": {
                "endpoint_name": endpoint["name"],
                "model_name": entity["entity_name"],
                "model_version": str(entity["entity_version"]),
            },
        }
        rows = self.state.setdefault("inference_tables", {}).setdefault(payload_table(stored), [])
        rows.append(row)
        del rows[:-MAX_ROWS]
