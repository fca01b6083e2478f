"""Daily cost rows made directly (for pages, budgets, permissions and query counts: no backend needed)."""

from datetime import date, timedelta
from decimal import Decimal

from apps.costs.models import UNTAGGED, Budget, DailyCost
from apps.costs.rollups import rollups_refresh


def add_cost(*, day: date, amount, team=None, project="default", backend="local", service="compute", **fields):
    """A raw row, and the rollups of its day recomputed as ingestion does."""
    row = DailyCost.objects.create(
        day=day,
        source=fields.pop("source", backend),
        backend=backend,
        service=service,
        team=team,
        team_tag=team.slug if team is not None else UNTAGGED,
        project=project,
        amount=Decimal(str(amount)),
        **fields,
    )
    rollups_refresh(source=row.source, start=day, end=day)
    return row


def add_days(*, first: date, days: int, amount, **fields) -> list[DailyCost]:
    return [add_cost(day=first + timedelta(days=n), amount=amount, **fields) for n in range(days)]


def make_budget(*, team, amount=1000, project="", thresholds=None) -> Budget:
    return Budget.objects.create(team=team, project=project, amount=Decimal(str(amount)), thresholds=thresholds or [])
