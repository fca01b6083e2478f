"""The rollups the dashboard reads: kept by the same SQL ingestion runs, a month's row the
sum of its days, a period read from monthly rows for its whole months and daily rows for the
rest, so every figure equals the sum of the raw rows (never counted twice, never missed)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from apps.costs import selectors
from apps.costs.models import DailyCost, Grain, ModelCost, ServiceCost
from apps.costs.rollups import full_months, rollups_refresh

from .factories import add_cost

pytestmark = pytest.mark.django_db


def test_whole_months_inside_a_period():
    assert full_months(date(2026, 1, 15), date(2026, 4, 10)) == (date(2026, 2, 1), date(2026, 3, 31))
    assert full_months(date(2026, 2, 1), date(2026, 2, 28)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert full_months(date(2026, 2, 2), date(2026, 3, 30)) is None


def test_a_period_across_months_sums_to_the_raw_rows(manager, team, other_team):
    first = date(2026, 1, 20)
    for n in range(75):  # 20 January .. 4 April
        day = first + timedelta(days=n)
        add_cost(day=day, amount=n + 1, team=team, model_name="churn", service="training")
        add_cost(day=day, amount=2, team=team, endpoint="churn-live", service="serving")
        add_cost(day=day, amount=100, team=other_team, model_name="secret")
    assert ServiceCost.objects.filter(grain=Grain.MONTH).exists() and ModelCost.objects.filter(grain=Grain.MONTH)
    start, end = date(2026, 1, 25), date(2026, 4, 2)  # February and March whole, the rest by day
    raw = DailyCost.objects.filter(team=team, day__gte=start, day__lte=end).aggregate(s=Sum("amount"))["s"]
    filters = selectors.CostFilters(start=start, end=end)
    for group_by in (["team"], ["service"], ["model"], ["endpoint"], ["model", "service"]):
        for granularity in ("day", "month"):
            rows = selectors.cost_totals(user=manager, filters=filters, group_by=group_by, granularity=granularity)
            assert sum(r["amount"] for r in rows) == raw, (group_by, granularity)
    by_month = selectors.cost_totals(user=manager, filters=filters, group_by=["team"], granularity="month")
    assert [r["period"].month for r in by_month] == [1, 2, 3, 4]
    assert {r["team"] for r in by_month} == {team.slug}  # the other team's spend is absent
    top = dict(selectors.cost_top(user=manager, filters=filters, by="model"))
    expected = DailyCost.objects.filter(model_name="churn", day__gte=start, day__lte=end).aggregate(s=Sum("amount"))
    assert top == {"churn": expected["s"]}


def test_reading_a_day_again_replaces_its_rollups(manager, team):
    day = date(2026, 3, 10)
    row = add_cost(day=day, amount=5, team=team)
    row.amount = Decimal("8")
    row.save()
    rollups_refresh(source=row.source, start=day, end=day)
    for model in (ServiceCost, ModelCost):
        for grain in (Grain.DAY, Grain.MONTH):
            assert model.objects.filter(grain=grain).aggregate(s=Sum("amount"))["s"] == Decimal("8")
    DailyCost.objects.all().delete()
    rollups_refresh(source=row.source, start=day, end=day)
    assert not ServiceCost.objects.exists() and not ModelCost.objects.exists()
