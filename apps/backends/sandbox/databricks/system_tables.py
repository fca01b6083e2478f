"""Part of the Databricks STAND-IN (not Databricks): the billing system tables
``system.billing.usage`` and ``system.billing.list_prices``, answered through the
stand-in's SQL Statement Execution API (``.sql``) from the same usage rows the
billable-usage download serves (``.billing``: seeded, the demo's, each finished job's).

Columns are those of Databricks' documented schemas that Atrium reads (and a few
more); a struct (``usage_metadata``, ``pricing``) or a map (``custom_tags``) is kept
as a JSON object, and ``x.usage_metadata.job_id`` reads into it. Usage is one record
a day per usage row (Databricks' are hourly; a day's sum is the same), of this workspace
unless the row names another of the account (``workspace_id``). List prices are
the stand-in's own, with one price change (jobs compute, on ``PRICE_CHANGE``) so the
join's time bounds matter. A stand-in made with ``system_tables=False`` has none: a
statement naming them fails with TABLE_OR_VIEW_NOT_FOUND, as on a workspace without them."""

from __future__ import annotations

import hashlib
import json

from .state import WORKSPACE_ID

USAGE_COLUMNS = (
    ("record_id", "STRING"),
    ("account_id", "STRING"),
    ("workspace_id", "STRING"),
    ("sku_name", "STRING"),
    ("cloud", "STRING"),
    ("usage_start_time", "TIMESTAMP"),
    ("usage_end_time", "TIMESTAMP"),
    ("usage_date", "DATE"),
    ("custom_tags", "MAP<STRING, STRING>"),
    ("usage_unit", "STRING"),
    ("usage_quantity", "DECIMAL(38,18)"),
    ("usage_metadata", "STRUCT<job_id: STRING, endpoint_name: STRING, cluster_id: STRING>"),
    ("record_type", "STRING"),
)
PRICE_COLUMNS = (
    ("account_id", "STRING"),
    ("price_start_time", "TIMESTAMP"),
    ("price_end_time", "TIMESTAMP"),
    ("sku_name", "STRING"),
    ("cloud", "STRING"),
    ("currency_code", "STRING"),
    ("usage_unit", "STRING"),
    ("pricing", "STRUCT<default: DECIMAL(30,18)>"),
)
STRUCT_COLUMNS = ("usage_metadata", "pricing", "identity_metadata", "product_features")
CLOUD = "AWS"
PRICE_CHANGE = "2025-01-01T00:00:00.000Z"
BEGINNING = "2020-01-01T00:00:00.000Z"
# USD a DBU (the stand-in's, not Databricks' price list): jobs compute changed price once. Today's
# prices are the sandbox connection's dbu_price (0.55), so make run's demo spend is the same
# whichever way the stand-in's bill is read.
LIST_PRICES = {
    "STANDARD_ALL_PURPOSE_COMPUTE": [(BEGINNING, None, "0.55")],
    "STANDARD_JOBS_COMPUTE": [(BEGINNING, PRICE_CHANGE, "0.40"), (PRICE_CHANGE, None, "0.55")],
    "SERVERLESS_REAL_TIME_INFERENCE": [(BEGINNING, None, "0.55")],
}
OTHER_SKU_PRICE = "0.55"


class SystemTablesApi:
    """Mixed into ``DatabricksStandIn``: uses its state, ``account_id`` and ``system_tables``."""

    def _system_table(self, name: str):
        """(columns, rows) of a billing system table, or None."""
        if not getattr(self, "system_tables", True):
            return None
        if name == "system.billing.usage":
            return USAGE_COLUMNS, [self._usage_record(row) for row in self.state.get("usage", [])]
        if name == "system.billing.list_prices":
            skus = {*LIST_PRICES, *(row["sku"] for row in self.state.get("usage", []))}
            rows = []
            for sku in sorted(skus):
                for start, end, price in LIST_PRICES.get(sku, [(BEGINNING, None, OTHER_SKU_PRICE)]):
                    rows.append(
                        {
                            "account_id": self.account_id,
                            "price_start_time": start,
                            "price_end_time": end,
                            "sku_name": sku,
                            "cloud": CLOUD,
                            "currency_code": "USD",
                            "usage_unit": "DBU",
                            "pricing": {"default": price},
                        }
                    )
            return PRICE_COLUMNS, rows
        return None

    def _usage_record(self, row: dict) -> dict:
        tags = dict(row.get("tags") or {})
        serving = row["sku"] == "SERVERLESS_REAL_TIME_INFERENCE"
        key = json.dumps([row["day"], row["sku"], row.get("cluster_id"), tags], sort_keys=True)
        return {
            "record_id": hashlib.sha256(key.encode()).hexdigest()[:32],
            "account_id": self.account_id,
            "workspace_id": row.get("workspace_id", WORKSPACE_ID),
            "sku_name": row["sku"],
            "cloud": CLOUD,
            "usage_start_time": f"{row['day']}T00:00:00.000Z",
            "usage_end_time": f"{row['day']}T23:59:59.999Z",
            "usage_date": row["day"],
            "custom_tags": tags,
            "usage_unit": "DBU",
            "usage_quantity": row["dbus"],
            "usage_metadata": {
                "job_id": row.get("job_id"),
                "endpoint_name": (tags.get("endpoint") or None) if serving else None,
                "cluster_id": None if serving else row.get("cluster_id"),
            },
            "record_type": "ORIGINAL",
        }
