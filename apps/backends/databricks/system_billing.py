"""Costs from the account's system tables, where the workspace has them: ``system.billing.usage``
joined to ``system.billing.list_prices`` through the SQL Statement Execution API, on the
connection's SQL warehouse. Money is ``usage_quantity × pricing.default`` (the list price in
force when the usage ended: ``price_start_time`` ≤ ``usage_end_time`` < ``price_end_time``, the
latter null while current), summed per day, SKU, ``custom_tags`` and the ``usage_metadata``
that names what was used (``job_id``, ``endpoint_name``). List prices are sticker prices:
an account's negotiated discount is not in them (Databricks says so).

Only the connection's own workspace is read (``workspace_id``): the tables hold the whole
account's usage, and two connections to workspaces of one account would otherwise each count
the other's spend.

The column names are Databricks' documented schemas (Billable usage and Pricing system table
references); every value travels as a named parameter. A workspace without the tables (or a
principal without SELECT on them) gets ``SystemTablesMissing``: the caller reads the
billable-usage download instead."""

from __future__ import annotations

import json
from datetime import date

from databricks.sdk import WorkspaceClient
from databricks.sdk.service import sql

from ..base import BackendError, CostRecord
from ..jobs.table_window import statement_rows
from .client import errors

STATEMENT = """
SELECT u.usage_date AS usage_date,
       u.sku_name AS sku_name,
       to_json(u.custom_tags) AS custom_tags,
       u.usage_metadata.job_id AS job_id,
       u.usage_metadata.endpoint_name AS endpoint_name,
       p.currency_code AS currency_code,
       SUM(u.usage_quantity * p.pricing.default) AS cost
FROM system.billing.usage u
JOIN system.billing.list_prices p
  ON u.sku_name = p.sku_name
 AND u.usage_unit = p.usage_unit
 AND u.cloud = p.cloud
 AND u.usage_end_time >= p.price_start_time
 AND (p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)
WHERE u.workspace_id = :workspace_id AND u.usage_date >= :start_date AND u.usage_date <= :end_date
GROUP BY u.usage_date, u.sku_name, to_json(u.custom_tags), u.usage_metadata.job_id,
         u.usage_metadata.endpoint_name, p.currency_code
ORDER BY usage_date, sku_name
""".strip()
MISSING = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "PERMISSION_DENIED", "INSUFFICIENT_PERMISSIONS")
TERMINAL = {sql.StatementState.SUCCEEDED, sql.StatementState.FAILED, sql.StatementState.CANCELED}


class SystemTablesMissing(BackendError):
    """The workspace has no billing system tables, or the connection may not read them."""


def _tags(row: dict) -> dict[str, str]:
    try:
        parsed = json.loads(row.get("custom_tags") or "{}")
    except json.JSONDecodeError:
        parsed = {}
    tags = {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    if row.get("endpoint_name"):
        tags.setdefault("endpoint_name", row["endpoint_name"])
    if row.get("job_id"):
        tags.setdefault("job_id", row["job_id"])
    return tags


def get_costs(
    client: WorkspaceClient,
    warehouse_id: str,
    *,
    workspace_id: str,
    start: date,
    end: date,
    tags: dict[str, str] | None = None,
) -> list[CostRecord]:
    parameters = [
        sql.StatementParameterListItem(name="workspace_id", value=str(workspace_id), type="STRING"),
        sql.StatementParameterListItem(name="start_date", value=start.isoformat(), type="DATE"),
        sql.StatementParameterListItem(name="end_date", value=end.isoformat(), type="DATE"),
    ]
    with errors("read the billing system tables"):
        response = client.statement_execution.execute_statement(
            STATEMENT,
            warehouse_id,
            parameters=parameters,
            wait_timeout="50s",
            on_wait_timeout=sql.ExecuteStatementRequestOnWaitTimeout.CANCEL,
        )
        state = response.status.state if response.status else None
        if state not in TERMINAL:
            client.statement_execution.cancel_execution(response.statement_id)
        if state not in TERMINAL or state == sql.StatementState.CANCELED:
            raise BackendError("The SQL warehouse is starting or busy; the portal will read the bill later.")
        if state != sql.StatementState.SUCCEEDED:
            error = response.status.error if response.status else None
            message = (error.message if error else "") or f"the statement ended {state}"
            if any(code in message for code in MISSING):
                raise SystemTablesMissing(f"No billing system tables to read: {message}", permanent=True)
            raise BackendError(f"Reading the billing system tables failed: {message}", permanent=True)
        rows = list(statement_rows(client, response))
    wanted = tags or {}
    records = []
    for row in rows:
        row_tags = _tags(row)
        if any(row_tags.get(k) != v for k, v in wanted.items()):
            continue
        records.append(
            CostRecord(
                day=date.fromisoformat(str(row["usage_date"])[:10]),
                amount=round(float(row["cost"] or 0), 6),
                currency=row.get("currency_code") or "USD",
                tags=row_tags,
                service=row.get("sku_name") or "",
            )
        )
    return records
