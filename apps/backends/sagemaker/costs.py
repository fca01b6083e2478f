"""Costs from Cost Explorer: daily unblended cost, grouped by cost-allocation
tags (the connection's ``cost_group_by``: up to two tag keys, or "SERVICE";
team and project by default). Cost Explorer answers from us-east-1 only."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from ..base import CostRecord
from .client import aws

DEFAULT_GROUP_BY = ("team", "project")


def get_costs(
    ce, *, start: date, end: date, tags: dict[str, str] | None = None, group_by: list[str] | None = None
) -> list[CostRecord]:
    """Daily costs from ``start`` to ``end`` (both included), filtered by ``tags``."""
    group_by = list(group_by or DEFAULT_GROUP_BY)[:2]
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": (end + timedelta(days=1)).isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [
            {"Type": "DIMENSION", "Key": "SERVICE"} if key == "SERVICE" else {"Type": "TAG", "Key": key}
            for key in group_by
        ],
    }
    filters = [{"Tags": {"Key": k, "Values": [v], "MatchOptions": ["EQUALS"]}} for k, v in (tags or {}).items()]
    if len(filters) == 1:
        request["Filter"] = filters[0]
    elif filters:
        request["Filter"] = {"And": filters}
    records: list[CostRecord | None] = []
    with aws("Read costs from Cost Explorer"):
        token = None
        while True:
            page = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
            for period in page.get("ResultsByTime", []):
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                for group in period.get("Groups", []) or [{"Keys": [], "Metrics": period.get("Total", {})}]:
                    record = cost_record(day, group, group_by, tags or {})
                    if record is not None and period.get("Estimated"):
                        record = replace(record, estimate=True)
                    records.append(record)
            token = page.get("NextPageToken")
            if not token:
                break
    return [r for r in records if r is not None]


def cost_record(day: date, group: dict, group_by: list[str], filters: dict[str, str]) -> CostRecord | None:
    metric = group.get("Metrics", {}).get("UnblendedCost")
    if not metric:
        return None
    tags, service = dict(filters), ""
    for key, value in zip(group_by, group.get("Keys", []), strict=False):
        if key == "SERVICE":
            service = value
        else:
            _, _, tag_value = value.partition("$")  # Cost Explorer answers "team$alpha"
            tags[key] = tag_value
    return CostRecord(
        day=day, amount=float(metric["Amount"]), currency=metric.get("Unit", "USD"), tags=tags, service=service
    )
