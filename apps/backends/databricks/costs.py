"""Costs: the account's billable usage CSV (``billable_usage.download``), the
one usage read the SDK offers without a SQL warehouse.

It reports DBUs, not money: with a ``dbu_price`` amounts are DBUs x price in
``currency``, otherwise the amount is in DBUs (currency ``"DBU"``). Rows are
summed by day, SKU and the cluster's custom tags (job clusters carry the
spec's tags), and filtered by the tags asked for.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date

from databricks.sdk import AccountClient

from ..base import CostRecord
from .client import errors


def get_costs(
    account: AccountClient,
    *,
    start: date,
    end: date,
    tags: dict[str, str] | None = None,
    dbu_price: float | None = None,
    currency: str = "USD",
) -> list[CostRecord]:
    with errors("read billable usage"):
        response = account.billable_usage.download(f"{start:%Y-%m}", f"{end:%Y-%m}")
        text = response.contents.read().decode("utf-8") if response.contents else ""
    wanted = tags or {}
    totals: dict[tuple, float] = defaultdict(float)
    for row in csv.DictReader(io.StringIO(text)):
        day = date.fromisoformat(row["timestamp"][:10])
        if not start <= day <= end:
            continue
        row_tags = parse_tags(row.get("clusterCustomTags", ""))
        if any(row_tags.get(k) != v for k, v in wanted.items()):
            continue
        totals[(day, row.get("sku", ""), tuple(sorted(row_tags.items())))] += float(row.get("dbus") or 0)
    price, currency = (dbu_price, currency) if dbu_price is not None else (1.0, "DBU")
    return [
        CostRecord(day=day, amount=round(dbus * price, 6), currency=currency, tags=dict(tag_items), service=sku)
        for (day, sku, tag_items), dbus in sorted(totals.items())
    ]


def parse_tags(value: str) -> dict[str, str]:
    """Billable usage tags: a JSON object, or (older files) its members without braces."""
    value = (value or "").strip()
    if not value:
        return {}
    try:
        parsed = json.loads(value if value.startswith("{") else "{" + value + "}")
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
