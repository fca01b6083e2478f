"""SANDBOX billing history for the demo (not a cloud's): ``days`` of daily
spend of team Demo, tagged as Atrium tags what it creates (team, project,
model, endpoint), with some untagged spend, for the stand-ins to serve
(``--demo-billing DAYS``) so that the portal's ingestion reads it through its
real path. Every row carries the tag ``atrium-sandbox=demo-billing``: it is
invented. Deterministic for a given ``today``."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

LABEL = {"atrium-sandbox": "demo-billing"}
# (project, model, endpoint or "", service, AWS $/day, Databricks DBU/day)
WORKLOADS = [
    ("churn", "churn-model", "", "training", 14.0, 9.0),
    ("churn", "churn-model", "churn-live", "serving", 22.0, 12.0),
    ("fraud", "fraud-detector", "", "training", 9.0, 16.0),
    ("fraud", "fraud-detector", "fraud-scoring", "serving", 30.0, 18.0),
    ("forecasting", "demand-forecast", "", "batch", 6.0, 11.0),
]
UNTAGGED_PER_DAY = (4.0, 3.0)


def demo_rows(*, backend: str, days: int = 90, today: date | None = None, team: str = "demo") -> list[dict]:
    """``{"day", "amount", "tags", "service"}`` per workload and day, ending yesterday and today
    (the last days still estimates on the cloud's side). ``backend``: "sagemaker" (USD) or "databricks" (DBUs)."""
    today = today or date.today()
    rng = random.Random(f"{backend}-{today.isoformat()}")  # noqa: S311 - invented demo data
    column = 4 if backend == "sagemaker" else 5
    rows = []
    for n in range(days):
        day = today - timedelta(days=days - 1 - n)
        growth = 1 + 0.4 * n / max(days, 1)  # spend rises over the period: a forecast worth reading
        weekly = 1 + 0.15 * math.sin(n / 7 * 2 * math.pi)
        for project, model, endpoint, service, *per_day in WORKLOADS:
            tags = {**LABEL, "team": team, "project": project, "model": model}
            if endpoint:
                tags["endpoint"] = endpoint
            amount = per_day[column - 4] * growth * weekly * rng.uniform(0.8, 1.2)
            rows.append({"day": day.isoformat(), "amount": round(amount, 4), "tags": tags, "service": service})
        untagged = UNTAGGED_PER_DAY[column - 4] * rng.uniform(0.5, 1.5)
        rows.append({"day": day.isoformat(), "amount": round(untagged, 4), "tags": dict(LABEL), "service": "other"})
    return rows
