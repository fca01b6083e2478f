"""Reads of costs: every aggregate in SQL over the rollups (``ServiceCost``, ``ModelCost``:
monthly rows for whole months, daily rows for the rest; the raw rows only for a grouping
no rollup keeps), team-scoped
(a manager sees their teams' costs; untagged spend, owned by no team, is
shown to admins as "untagged")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from apps.core.scoping import team_scoped

from . import rollups
from .models import Budget, BudgetAlert, CostDay, DailyCost, Grain, ModelCost, ServiceCost

ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=16, decimal_places=6))
# group_by names of the API and the page -> the rollup's columns
GROUPS = {
    "team": "team_tag",
    "project": "project",
    "backend": "backend",
    "service": "service",
    "model": "model_name",
    "model_version": "model_version",
    "endpoint": "endpoint",
    "run": "run",
}
GRANULARITIES = ("day", "month")
TOP = 10  # the largest spenders a "top" table shows


@dataclass(frozen=True)
class CostFilters:
    start: date
    end: date
    team_ids: list = field(default_factory=list)  # empty: all the person may see
    backends: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    include_estimates: bool = True


# The columns each rollup keeps: a read uses the smallest table that has every column it names.
SERVICE_COLUMNS = {"team_id", "team_tag", "project", "backend", "service", "currency", "is_estimate"}
MODEL_COLUMNS = {"team_id", "team_tag", "project", "backend", "currency", "is_estimate"} | {
    "model_name",
    "model_version",
    "endpoint",
    "run",
}


def cost_table(columns) -> type:
    """ServiceCost or ModelCost when one has all ``columns``, else the raw rows."""
    columns = set(columns)
    if columns <= SERVICE_COLUMNS:
        return ServiceCost
    if columns <= MODEL_COLUMNS:
        return ModelCost
    return DailyCost


def period_q(start: date, end: date, *, daily: bool = False) -> Q:
    """The rollup rows that cover ``start``..``end`` once: monthly rows for the whole months
    inside it, daily rows for the days before and after them (only daily ones if ``daily``)."""
    months = None if daily else rollups.full_months(start, end)
    if months is None:
        return Q(grain=Grain.DAY, day__gte=start, day__lte=end)
    first, last = months
    return (
        Q(grain=Grain.MONTH, day__gte=first, day__lte=last)
        | Q(grain=Grain.DAY, day__gte=start, day__lt=first)
        | Q(grain=Grain.DAY, day__gt=last, day__lte=end)
    )


def costs_visible(*, user) -> QuerySet[DailyCost]:
    return team_scoped(DailyCost.objects.all(), user=user)


def costs_filtered(*, user, filters: CostFilters, columns=(), daily: bool = False) -> QuerySet:
    """The rows of the period a person may see, from the smallest rollup holding ``columns``
    (the columns the caller groups by or filters on beyond the filters'); ``daily``: the
    caller needs each day apart."""
    table = cost_table(columns)
    rows = team_scoped(table.objects.all(), user=user)
    if table is DailyCost:
        rows = rows.filter(day__gte=filters.start, day__lte=filters.end)
    else:
        rows = rows.filter(period_q(filters.start, filters.end, daily=daily))
    if filters.team_ids:
        rows = rows.filter(team_id__in=filters.team_ids)
    if filters.backends:
        rows = rows.filter(backend__in=filters.backends)
    if filters.projects:
        rows = rows.filter(project__in=filters.projects)
    if not filters.include_estimates:
        rows = rows.filter(is_estimate=False)
    return rows


def total():
    return Coalesce(Sum("amount"), ZERO)


def cost_totals(*, user, filters: CostFilters, group_by: list[str], granularity: str = "day") -> list[dict]:
    """Spend per period (day or month) and group, with the currency and whether any of it is an estimate."""
    columns = [GROUPS[name] for name in group_by]
    rows = costs_filtered(user=user, filters=filters, columns=columns, daily=granularity == "day")
    period = TruncMonth("day") if granularity == "month" else F("day")
    answer = (
        rows.annotate(period=period)
        .values("period", *columns, "currency")
        .annotate(amount=total(), estimate=Count("id", filter=Q(is_estimate=True)))
        .order_by("period", *columns, "currency")
    )
    out = []
    for row in answer:
        item = {"period": row["period"], "currency": row["currency"]}
        item.update({name: row[GROUPS[name]] for name in group_by})
        item.update(amount=row["amount"], estimate=bool(row["estimate"]))
        out.append(item)
    return out


def cost_top(*, user, filters: CostFilters, by: str, limit: int = TOP) -> list[tuple]:
    """The largest spenders by ``by`` (model, endpoint, ...), those the tags name."""
    column = GROUPS[by]
    return list(
        costs_filtered(user=user, filters=filters, columns=[column])
        .exclude(**{column: ""})
        .values(column)
        .annotate(amount=total())
        .order_by("-amount", column)[:limit]
        .values_list(column, "amount")
    )


def endpoint_serving_costs(*, user, filters: CostFilters, endpoint: str = "") -> dict[str, Decimal]:
    """Each endpoint's spend in the period (rows whose tags name an endpoint)."""
    rows = costs_filtered(user=user, filters=filters, columns=["endpoint"]).exclude(endpoint="")
    if endpoint:
        rows = rows.filter(endpoint=endpoint)
    return dict(rows.values("endpoint").annotate(amount=total()).order_by().values_list("endpoint", "amount"))


def costs_version() -> tuple:
    """Changes whenever a cost row, a day read or a budget does: three index-only reads in one
    query (it runs on every view of the Costs page, cached or not)."""
    rows, days, budgets = (connection.ops.quote_name(m._meta.db_table) for m in (DailyCost, CostDay, Budget))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {rows}), (SELECT MAX(read_at) FROM {days}),"  # noqa: S608 - the models' names
            f" (SELECT MAX(updated_at) FROM {budgets}), (SELECT COUNT(*) FROM {budgets})"
        )
        return tuple(cursor.fetchone())


def budgets_visible(*, user) -> QuerySet[Budget]:
    return team_scoped(Budget.objects.all(), user=user).select_related("team")


@dataclass(frozen=True)
class BudgetSpend:
    actual: Decimal  # month to date, in the budget's currency
    trailing: Decimal  # the trailing window's spend, in the budget's currency
    # month to date in other currencies: not added to a budget (no exchange rate is assumed), shown beside it
    other_currencies: tuple[tuple[str, Decimal], ...] = ()


def budget_spend(
    *, budgets: list[Budget], month_start: date, as_of: date, trailing_start: date
) -> dict[object, BudgetSpend]:
    """Month-to-date and trailing-window spend of each budget, in one query
    (summed by team, project and currency; a team's budget takes all its projects, and only
    the spend in its own currency: the rest is reported beside it, never converted)."""
    team_ids = {b.team_id for b in budgets}
    if not team_ids:
        return {}
    first = min(month_start, trailing_start)
    rows = (
        ServiceCost.objects.filter(team_id__in=team_ids, grain=Grain.DAY, day__gte=first, day__lte=as_of)
        .values("team_id", "project", "currency")
        .annotate(
            actual=Coalesce(Sum("amount", filter=Q(day__gte=month_start)), ZERO),
            trailing=Coalesce(Sum("amount", filter=Q(day__gte=trailing_start)), ZERO),
        )
        .order_by()
    )
    by_team: dict = {}
    for row in rows:
        by_team.setdefault(row["team_id"], []).append(row)
    out = {}
    for budget in budgets:
        parts = [r for r in by_team.get(budget.team_id, []) if not budget.project or r["project"] == budget.project]
        own = [r for r in parts if r["currency"] == budget.currency]
        other: dict[str, Decimal] = {}
        for r in parts:
            if r["currency"] != budget.currency and r["actual"]:
                other[r["currency"]] = other.get(r["currency"], Decimal(0)) + Decimal(r["actual"])
        out[budget.pk] = BudgetSpend(
            actual=sum((Decimal(r["actual"]) for r in own), Decimal(0)),
            trailing=sum((Decimal(r["trailing"]) for r in own), Decimal(0)),
            other_currencies=tuple(sorted(other.items())),
        )
    return out


def budget_alerts_recent(*, user, limit: int = 10) -> list[BudgetAlert]:
    alerts = BudgetAlert.objects.select_related("budget__team")
    if not user.is_portal_admin:
        alerts = alerts.filter(budget__team__in=user.teams.all())
    return list(alerts[:limit])
