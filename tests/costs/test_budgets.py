"""Budgets: the forecast (month to date + trailing daily average × days left,
stated), alerts at thresholds of actual and forecast, each sent once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.costs.budgets import budget_alerts_check, budget_statuses
from apps.costs.models import BudgetAlert
from apps.notifications.models import Notification

from .factories import add_cost, add_days, make_budget

pytestmark = pytest.mark.django_db

NOV_10 = date(2026, 11, 10)  # 20 days left in November


def test_forecast_is_month_to_date_plus_the_trailing_average_for_the_days_left(team, other_team):
    add_days(first=date(2026, 10, 25), days=7, amount=100, team=team)  # October: not this month's spend
    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)
    add_cost(day=NOV_10, amount=500, team=other_team)  # another team's: not in Alpha's budget
    (status,) = budget_statuses(budgets=[make_budget(team=team, amount=1000)], as_of=NOV_10)
    assert status.actual == Decimal("300.00")
    assert status.daily_average == Decimal("30.00")  # Nov 4..10
    assert status.days_left == 20
    assert status.forecast == Decimal("900.00")
    assert status.forecast_percent == pytest.approx(90)
    assert "last 7 days (30.00 a day) × 20 days left" in status.method


def test_a_project_budget_counts_its_project_only(team):
    add_days(first=date(2026, 11, 1), days=10, amount=10, team=team, project="churn")
    add_days(first=date(2026, 11, 1), days=10, amount=5, team=team, project="fraud")
    team_budget, churn_budget = make_budget(team=team, amount=1000), make_budget(team=team, project="churn", amount=50)
    statuses = {s.budget.pk: s for s in budget_statuses(budgets=[team_budget, churn_budget], as_of=NOV_10)}
    assert statuses[team_budget.pk].actual == Decimal("150.00")
    assert statuses[churn_budget.pk].actual == Decimal("100.00")


def test_a_budget_counts_its_own_currency_and_shows_the_others_beside_it(team, client, make_user):
    today = timezone.localdate()
    add_cost(day=today, amount=300, team=team)  # USD, the budget's currency
    add_cost(day=today, amount=7, team=team, currency="EUR")
    add_cost(day=today, amount=7, team=team, project="churn", currency="EUR")
    add_cost(day=today.replace(day=1) - timedelta(days=1), amount=99, team=team, currency="GBP")  # last month's
    budget = make_budget(team=team, amount=1000)
    (status,) = budget_statuses(budgets=[budget])
    assert status.actual == Decimal("300.00")  # 14 EUR are not 14 USD
    assert status.other_spend == "14.00 EUR"

    client.force_login(make_user("alpha-boss", role=Role.MANAGER))
    page = client.get("/costs/budgets/").content.decode()
    body = client.get(f"/api/v1/budgets/{budget.pk}/").json()
    assert "not counted, in other currencies: 14.00 EUR" in page
    assert body["actual"] == "300.00" and body["other_currencies"] == [{"currency": "EUR", "amount": "14.00"}]


def test_thresholds_of_actual_and_forecast_alert_once(team, other_team, make_user):
    manager = make_user("alpha-boss", role=Role.MANAGER)
    admin = make_user("root", role=Role.ADMIN, teams=[])
    scientist = make_user("alpha-ds")
    stranger = make_user("beta-boss", role=Role.MANAGER, teams=[other_team])
    budget = make_budget(team=team, amount=1000)
    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)  # 300 spent, 900 forecast

    sent = budget_alerts_check(as_of=NOV_10)
    assert sorted((a.kind, a.threshold) for a in sent) == [("forecast", 50), ("forecast", 80)]
    told = Notification.objects.filter(url="/costs/")
    assert set(told.values_list("user__username", flat=True)) == {manager.username, admin.username}
    assert scientist.notifications.count() == stranger.notifications.count() == 0
    message = told.filter(user=manager).order_by("created_at").first().message
    assert "forecast to spend 900.00 USD" in message and "1,000.00 USD for November 2026" in message

    assert budget_alerts_check(as_of=NOV_10) == []  # the beat runs again: nothing new, nobody told twice
    assert told.count() == 4

    add_cost(day=date(2026, 11, 11), amount=300, team=team)  # 600 spent: the actual crosses 50%
    later = budget_alerts_check(as_of=date(2026, 11, 11))
    assert sorted((a.kind, a.threshold) for a in later) == [("actual", 50), ("forecast", 100)]
    assert BudgetAlert.objects.filter(budget=budget).count() == 4
    assert budget_alerts_check(as_of=date(2026, 11, 11)) == []

    # A new month starts over.
    add_cost(day=date(2026, 12, 1), amount=600, team=team)
    december = budget_alerts_check(as_of=date(2026, 12, 1))
    assert ("actual", 50) in {(a.kind, a.threshold) for a in december}
    assert {a.month for a in december} == {date(2026, 12, 1)}


def test_a_budget_set_below_the_spend_alerts_at_once(team, make_user, django_capture_on_commit_callbacks):

    from apps.costs.services import budget_create, budget_update

    manager = make_user("alpha-boss", role=Role.MANAGER)
    add_cost(day=timezone.localdate(), amount=90, team=team)
    with django_capture_on_commit_callbacks(execute=True):
        budget = budget_create(user=manager, team=team, amount=100)
    assert ("actual", 80) in {(a.kind, a.threshold) for a in budget.alerts.all()}
    with django_capture_on_commit_callbacks(execute=True):
        budget_update(user=manager, budget=budget, amount=80)
    assert ("actual", 100) in {(a.kind, a.threshold) for a in budget.alerts.all()}
    assert manager.notifications.filter(message__contains="has spent 90.00 USD").count() >= 2


def test_make_run_gives_demo_a_budget_once(monkeypatch):
    from django.core.management import call_command

    from apps.costs.models import Budget

    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-1")
    call_command("seed_demo")
    call_command("seed_demo_budget")
    call_command("seed_demo_budget")
    (budget,) = Budget.objects.filter(team__slug="demo")
    assert budget.amount == Decimal("5000") and budget.levels == [50, 80, 100]
