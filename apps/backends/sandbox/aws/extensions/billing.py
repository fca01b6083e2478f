"""Part of the AWS STAND-IN (moto, not AWS): Cost Explorer answering from a
table of daily costs, patched into moto's Cost Explorer backend.

What it adds to moto, and why: moto's GetCostAndUsage answers only from a queue
of canned responses, one per distinct request, so a portal that asks for the
days it lacks (a new range each day) would get nothing. With daily rows seeded
(``seed_daily_costs``: ``{"day", "amount", "tags", "service"}``), a request
gets what AWS would give: one result per day of its ``TimePeriod`` (end
excluded), grouped by its (at most two) ``TAG`` / ``DIMENSION SERVICE`` keys as
``"key$value"`` (``"key$"`` when untagged), filtered by ``Tags`` EQUALS (and
``And`` of them), the last ``ESTIMATED_DAYS`` days marked ``Estimated``. The
canned queue still wins when it holds an answer, as in moto. Everything here
is SANDBOX data: invented, labelled so by whoever seeds it.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

ESTIMATED_DAYS = 2

_lock = threading.Lock()
_daily: dict[str, list[dict[str, Any]]] = defaultdict(list)  # account id -> rows


def seed_daily_costs(rows: list[dict[str, Any]], account_id: str = "123456789012") -> None:
    with _lock:
        _daily[account_id].extend(
            {
                "day": str(r["day"]),
                "amount": float(r["amount"]),
                "tags": dict(r.get("tags") or {}),
                "service": r.get("service", "Amazon SageMaker"),
            }
            for r in rows
        )


def clear_daily_costs(account_id: str = "123456789012") -> None:
    with _lock:
        _daily.pop(account_id, None)


def _matches(row: dict, condition: dict | None) -> bool:
    if not condition:
        return True
    if "And" in condition:
        return all(_matches(row, c) for c in condition["And"])
    tags = condition.get("Tags")
    if tags:
        return row["tags"].get(tags.get("Key")) in (tags.get("Values") or [])
    return True


def answer(rows: list[dict], request: dict, today: date | None = None) -> dict:
    period = request.get("TimePeriod") or {}
    start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    keys = [(g.get("Type"), g.get("Key")) for g in request.get("GroupBy") or []][:2]
    settled = (today or date.today()) - timedelta(days=ESTIMATED_DAYS)
    sums: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        day = date.fromisoformat(row["day"])
        if not start <= day < end or not _matches(row, request.get("Filter")):
            continue
        group = tuple(
            row["service"] if kind == "DIMENSION" else f"{key}${row['tags'].get(key, '')}" for kind, key in keys
        )
        sums[row["day"]][group] += row["amount"]
    results = []
    day = start
    while day < end:
        groups = sums.get(day.isoformat(), {})
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {} if keys else {"UnblendedCost": {"Amount": f"{sum(groups.values()):.6f}", "Unit": "USD"}},
                "Groups": [
                    {"Keys": list(group), "Metrics": {"UnblendedCost": {"Amount": f"{amount:.6f}", "Unit": "USD"}}}
                    for group, amount in sorted(groups.items())
                ]
                if keys
                else [],
                "Estimated": day > settled,
            }
        )
        day += timedelta(days=1)
    return {"ResultsByTime": results, "DimensionValueAttributes": [], "GroupDefinitions": request.get("GroupBy") or []}


def patch() -> None:
    from moto.ce.models import CostExplorerBackend

    original = CostExplorerBackend.get_cost_and_usage

    def get_cost_and_usage(self, body: str):
        with _lock:
            rows = list(_daily.get(self.account_id, ()))
        canned = body in self.cost_usage_results or self.cost_usage_results_queue
        if canned or not rows:
            return original(self, body)
        return answer(rows, json.loads(body))

    CostExplorerBackend.get_cost_and_usage = get_cost_and_usage
