"""Costs: the account's billable usage CSV (``billable_usage.download``), the
one usage read the SDK offers without a SQL warehouse.

It reports DBUs, not money: with a ``dbu_price`` amounts are DBUs x price in
``currency``, otherwise the amount is in DBUs (currency ``"DBU"``). Rows are
summed by day, SKU and the cluster's custom tags (job clusters carry the
spec's tags), and filtered by the tags asked for.

The file is the whole account's for whole months (the API filters nothing else): it is read
line by line as it arrives, never held whole, and only the connection's own workspace
(``workspaceId``) is counted, so two connections to one account do not count each other's.
"""

from __future__ import annotations

import codecs
import csv
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
    workspace_id: str = "",
) -> list[CostRecord]:
    wanted = tags or {}
    totals: dict[tuple, float] = defaultdict(float)
    with errors("read billable usage"):
        response = account.billable_usage.download(f"{start:%Y-%m}", f"{end:%Y-%m}")
        for row in csv.DictReader(_lines(response.contents) if response.contents else []):
            if workspace_id and row.get("workspaceId", "") != workspace_id:
                continue
            day = date.fromisoformat(row["timestamp"][:10])
            if start <= day <= end:
                _add(totals, row, day, wanted)
    price, currency = (dbu_price, currency) if dbu_price is not None else (1.0, "DBU")
    return [
        CostRecord(day=day, amount=round(dbus * price, 6), currency=currency, tags=dict(tag_items), service=sku)
        for (day, sku, tag_items), dbus in sorted(totals.items())
    ]


def _lines(stream, chunk: int = 1 << 20):
    """The text lines of a binary stream (each with its newline, as ``csv`` wants them), read a
    chunk at a time: the SDK's streamed body is not a file ``io.TextIOWrapper`` can wrap."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    rest = ""
    while data := stream.read(chunk):
        *lines, rest = (rest + decoder.decode(data)).split("\n")
        yield from (line + "\n" for line in lines)
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


def _add(totals: dict[tuple, float], row: dict, day: date, wanted: dict[str, str]) -> None:
    row_tags = parse_tags(row.get("clusterCustomTags", ""))
    if all(row_tags.get(k) == v for k, v in wanted.items()):
        totals[(day, row.get("sku", ""), tuple(sorted(row_tags.items())))] += float(row.get("dbus") or 0)


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
