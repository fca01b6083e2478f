"""Part of the Databricks STAND-IN (not Databricks): billable usage.

``GET /api/2.0/accounts/{account_id}/usage/download`` returns the legacy
billable-usage CSV (the one usage read the SDK offers without a SQL warehouse
and system tables). Rows are seeded (``seed_usage`` / ``POST /stand-in/usage``)
and every finished job run adds one (``.jobs``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from .router import invalid, not_found, route
from .state import WORKSPACE_ID

DEMO_CLUSTER = "sandbox-demo-billing"
SKUS = {
    "training": "STANDARD_JOBS_COMPUTE",
    "batch": "STANDARD_JOBS_COMPUTE",
    "serving": "SERVERLESS_REAL_TIME_INFERENCE",
    "other": "STANDARD_ALL_PURPOSE_COMPUTE",
}
USAGE_COLUMNS = [
    "workspaceId",
    "timestamp",
    "clusterId",
    "clusterName",
    "clusterNodeType",
    "clusterOwnerUserId",
    "clusterCustomTags",
    "sku",
    "dbus",
    "machineHours",
    "clusterOwnerUserName",
    "tags",
]


class BillingApi:
    """Billable usage. Mixed into ``DatabricksStandIn``: uses its state, lock
    and ``account_id``."""

    def seed_usage(self, rows: list[dict[str, Any]]) -> None:
        """Add usage rows: ``{"day": "YYYY-MM-DD", "dbus": float, "tags": {...},
        "sku": str, "cluster_id": str, "node_type": str, "workspace_id": str}`` (all but day and
        dbus optional; ``workspace_id``: another workspace of the account, default this one)."""
        with self.lock:
            for row in rows:
                self._add_usage(
                    day=str(row["day"]),
                    dbus=float(row["dbus"]),
                    tags=dict(row.get("tags") or {}),
                    sku=row.get("sku", "STANDARD_JOBS_COMPUTE"),
                    cluster_id=row.get("cluster_id", "seeded"),
                    node_type=row.get("node_type", "i3.xlarge"),
                    workspace_id=str(row.get("workspace_id") or WORKSPACE_ID),
                )
            self._save()

    def seed_demo_usage(self, rows: list[dict[str, Any]]) -> None:
        """The demo's SANDBOX history (``..demo_billing``), in place of the last one: ``amount`` is DBUs."""
        with self.lock:
            self.state["usage"] = [u for u in self.state["usage"] if u.get("cluster_id") != DEMO_CLUSTER]
        self.seed_usage(
            [
                {
                    "day": r["day"],
                    "dbus": r["amount"],
                    "tags": r["tags"],
                    "sku": SKUS.get(r["service"], r["service"]),
                    "cluster_id": DEMO_CLUSTER,
                }
                for r in rows
            ]
        )

    @route("POST", r"^/stand-in/usage$", authenticated=False)
    def _post_usage(self, payload, **_):
        self.seed_usage(payload.get("rows", []))
        return {}

    def _add_usage(
        self, *, day: str, dbus: float, tags: dict, sku: str, cluster_id: str, node_type: str, workspace_id: str = ""
    ) -> None:
        row = {"day": day, "dbus": dbus, "tags": tags, "sku": sku, "cluster_id": cluster_id, "node_type": node_type}
        if workspace_id and workspace_id != WORKSPACE_ID:
            row["workspace_id"] = workspace_id  # usage of another workspace of the same account
        self.state["usage"].append(row)

    @route("GET", r"^/api/2\.0/accounts/(?P<account>[^/]+)/usage/download$")
    def _usage_download(self, account, query, **_):
        if account != self.account_id:
            raise not_found(f"Account {account} does not exist.")
        try:
            start = _month(query["start_month"])
            end = _month(query["end_month"])
        except (KeyError, ValueError):
            raise invalid("start_month and end_month are required, as YYYY-MM.") from None
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(USAGE_COLUMNS)
        for row in self.state["usage"]:
            day = date.fromisoformat(row["day"])
            if not start <= (day.year, day.month) <= end:
                continue
            custom = json.dumps(row["tags"], separators=(",", ":"))
            writer.writerow(
                [
                    row.get("workspace_id", WORKSPACE_ID),
                    f"{row['day']}T23:59:59.999Z",
                    row["cluster_id"],
                    row["cluster_id"],
                    row["node_type"],
                    "1",
                    custom,
                    row["sku"],
                    row["dbus"],
                    row["dbus"],
                    "",
                    json.dumps({**row["tags"], "ClusterId": row["cluster_id"]}, separators=(",", ":")),
                ]
            )
        return "text/csv", out.getvalue().encode(), {}


def _month(value: str) -> tuple[int, int]:
    year, month = value.split("-")
    if not 1 <= int(month) <= 12:
        raise ValueError(value)
    return int(year), int(month)
