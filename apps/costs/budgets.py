"""Budgets: where each stands this month, its forecast to month end, and the
alerts at its thresholds (of actual spend and of the forecast), each sent once.

The forecast is stated, not guessed at: month-to-date spend plus the average
daily spend of the last ``TRAILING_DAYS`` days (up to today) times the days
left in the month."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.notifications.models import Notification
from apps.notifications.services import notify_users

from . import selectors, webhooks
from .models import Budget, BudgetAlert

TRAILING_DAYS = 7
CENT = Decimal("0.01")


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    month: date  # the first of the month
    as_of: date
    actual: Decimal
    daily_average: Decimal
    days_left: int
    forecast: Decimal
    other_currencies: tuple[tuple[str, Decimal], ...] = ()  # month to date, not counted (see budget_spend)

    @property
    def other_spend(self) -> str:
        """e.g. "12.40 EUR, 3.00 GBP": this month's spend in other currencies than the budget's."""
        return ", ".join(f"{a:,} {currency}" for currency, a in self.other_currencies)

    @property
    def actual_percent(self) -> float:
        return float(self.actual / self.budget.amount * 100) if self.budget.amount else 0.0

    @property
    def forecast_percent(self) -> float:
        return float(self.forecast / self.budget.amount * 100) if self.budget.amount else 0.0

    @property
    def method(self) -> str:
        return (
            f"Month to date plus the average of the last {TRAILING_DAYS} days "
            f"({self.daily_average:,.2f} a day) × {self.days_left} days left."
        )


def month_bounds(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def budget_statuses(*, budgets: list[Budget], as_of: date | None = None) -> list[BudgetStatus]:
    """Each budget this month: actual, forecast and how it was made (one query for all)."""
    as_of = as_of or timezone.localdate()
    month, month_end = month_bounds(as_of)
    trailing_start = as_of - timedelta(days=TRAILING_DAYS - 1)
    spend = selectors.budget_spend(budgets=budgets, month_start=month, as_of=as_of, trailing_start=trailing_start)
    days_left = (month_end - as_of).days
    statuses = []
    for budget in budgets:
        s = spend.get(budget.pk) or selectors.BudgetSpend(Decimal(0), Decimal(0))
        average = (s.trailing / TRAILING_DAYS).quantize(CENT, ROUND_HALF_UP)
        statuses.append(
            BudgetStatus(
                budget=budget,
                month=month,
                as_of=as_of,
                actual=s.actual.quantize(CENT, ROUND_HALF_UP),
                daily_average=average,
                days_left=days_left,
                forecast=(s.actual + s.trailing / TRAILING_DAYS * days_left).quantize(CENT, ROUND_HALF_UP),
                other_currencies=tuple((c, a.quantize(CENT, ROUND_HALF_UP)) for c, a in s.other_currencies),
            )
        )
    return statuses


def budget_alerts_check(*, as_of: date | None = None, budgets: list[Budget] | None = None) -> list[BudgetAlert]:
    """Alert every budget's crossed thresholds, actual and forecast, once per month each.
    Who hears: the budget's team's managers, and admins (in the portal and by e-mail), and the
    budget's webhook if it has one (signed, from a worker after commit)."""
    if budgets is None:
        budgets = list(Budget.objects.select_related("team"))
    sent = []
    for status in budget_statuses(budgets=budgets, as_of=as_of):
        budget = status.budget
        for threshold in budget.levels:
            line = budget.amount * threshold / 100
            for kind, value in ((BudgetAlert.Kind.ACTUAL, status.actual), (BudgetAlert.Kind.FORECAST, status.forecast)):
                if value < line:
                    continue
                alert = _alert_once(budget, status.month, threshold, kind, value)
                if alert is not None:
                    _tell(status, alert)
                    sent.append(alert)
    return sent


def _alert_once(budget, month, threshold, kind, value) -> BudgetAlert | None:
    """The alert, if this is its first time (a unique row per budget, month, threshold and kind)."""
    try:
        with transaction.atomic():
            return BudgetAlert.objects.create(budget=budget, month=month, threshold=threshold, kind=kind, spent=value)
    except IntegrityError:
        return None


def _tell(status: BudgetStatus, alert: BudgetAlert) -> None:
    budget = status.budget
    people = User.objects.filter(is_active=True).filter(
        Q(groups__name=Role.MANAGER, teams=budget.team) | Q(is_superuser=True) | Q(groups__name=Role.ADMIN)
    )
    if alert.kind == BudgetAlert.Kind.ACTUAL:
        what = f"has spent {alert.spent:,.2f} {budget.currency}, {alert.threshold}% or more of its"
    else:
        what = (
            f"is forecast to spend {alert.spent:,.2f} {budget.currency} by month end, {alert.threshold}% or more of its"
        )
    message = f"Budget “{budget}” {what} {budget.amount:,.2f} {budget.currency} for {status.month:%B %Y}."
    payload = webhooks.budget_payload(event="budget.alert", budget=budget, alert=alert, message=message)
    webhooks.webhook_enqueue(budget=budget, payload=payload, alert=alert)
    notify_users(
        users=list(people.distinct()),
        message=message,
        url=reverse("costs:dashboard"),
        subject=f"[Atrium] Budget {budget}: {alert.threshold}% ({alert.get_kind_display().lower()})",
        level=Notification.Level.ACTION if alert.threshold >= 100 else Notification.Level.INFO,
    )
