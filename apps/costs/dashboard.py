"""The Costs page's figures: each chart with the table it is drawn from (the
same rows are its CSV download). A constant number of queries whatever the data."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from decimal import Decimal

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from apps.core import charts
from apps.core.scoping import user_team_ids
from apps.deployments import selectors as deployment_selectors

from . import budgets, insights, selectors
from .tables import Table, cents, money

CACHE_SECONDS = 300
MONTHLY_AFTER_DAYS = 120  # longer periods are drawn per month
IDLE_REQUESTS_PER_DAY = 1  # an endpoint that cost money and served fewer requests than this a day is idle
IDLE_SHOWN = 20  # the costliest idle endpoints listed with a button each; the CSV has them all
# what a page view needs besides the rendered grid: a cache hit unpickles these, not every table
PAGE_KEYS = ("idle", "idle_more", "statuses", "total", "days", "previous_end", "has_charts", "computed")


def spend_over_time(*, user, filters: selectors.CostFilters, stack: str) -> Table:
    granularity = "month" if (filters.end - filters.start).days > MONTHLY_AFTER_DAYS else "day"
    rows = selectors.cost_totals(user=user, filters=filters, group_by=[stack], granularity=granularity)
    periods = sorted({r["period"] for r in rows})
    groups = sorted({r[stack] or "untagged" for r in rows})
    grid = {(r["period"], r[stack] or "untagged"): Decimal(0) for r in rows}
    estimated = False
    for r in rows:
        grid[(r["period"], r[stack] or "untagged")] += r["amount"]
        estimated = estimated or r["estimate"]
    table = Table(
        "spend",
        f"Spend per {granularity} by {stack}",
        [granularity, stack, "cost", "estimate"],
        [[r["period"], r[stack] or "untagged", cents(r["amount"]), "yes" if r["estimate"] else ""] for r in rows],
        note="Includes estimates: bills not final yet." if estimated else "",
    )
    if rows:
        table.figure = charts.bar_chart(
            categories=periods,
            series={g: [money(grid.get((p, g))) for p in periods] for g in groups},
            title=table.title,
            y_title="cost",
            stacked=True,
        )
    return table


def top(*, rows: list[tuple], by: str, title: str) -> Table:
    """``rows``: (name, cost), largest first."""
    table = Table(f"top-{by}s", title, [by, "cost"], [[name, cents(amount)] for name, amount in rows])
    if rows:
        table.figure = charts.horizontal_bar_chart(
            labels=[name for name, _ in rows], values=[money(a) for _, a in rows], title=title, x_title="cost"
        )
    return table


def per_prediction_rows(
    *, user, filters: selectors.CostFilters, endpoint: str = "", costs: dict | None = None
) -> list[dict]:
    """Each endpoint's serving cost ÷ the gateway's requests in the period, per 1,000 (``costs``:
    the endpoints' costs when the caller has them already)."""
    if costs is None:
        costs = selectors.endpoint_serving_costs(user=user, filters=filters, endpoint=endpoint)
    if not costs:
        return []
    requests = deployment_selectors.endpoint_requests(
        user=user, start=filters.start, end=filters.end, names=sorted(costs)
    )
    days = (filters.end - filters.start).days + 1
    out = []
    for name in sorted(costs, key=lambda n: -costs[n]):
        count = requests.get(name, 0)
        out.append(
            {
                "endpoint": name,
                "cost": costs[name].quantize(Decimal("0.01")),
                "requests": count,
                "cost_per_1000": (costs[name] / count * 1000).quantize(Decimal("0.0001")) if count else None,
                "idle": costs[name] > 0 and count < days * IDLE_REQUESTS_PER_DAY,
            }
        )
    return out


def per_prediction(rows: list[dict]) -> Table:
    table = Table(
        "per-prediction",
        "Cost per 1,000 predictions",
        ["endpoint", "serving cost", "requests", "cost per 1,000", "idle"],
        [[r["endpoint"], r["cost"], r["requests"], r["cost_per_1000"], "idle" if r["idle"] else ""] for r in rows],
        note="Serving cost (bill rows tagged with the endpoint) ÷ requests through the gateway in the period. "
        "Idle: it cost money and served fewer than one request a day: scale it down or delete it.",
    )
    priced = [r for r in rows if r["cost_per_1000"] is not None]
    if priced:
        table.figure = charts.horizontal_bar_chart(
            labels=[r["endpoint"] for r in priced],
            values=[float(r["cost_per_1000"]) for r in priced],
            title=table.title,
            x_title="cost per 1,000 requests",
        )
    return table


def budget_table(*, user, team_ids: list) -> tuple[Table, list[budgets.BudgetStatus]]:
    visible = selectors.budgets_visible(user=user)
    if team_ids:
        visible = visible.filter(team_id__in=team_ids)
    statuses = budgets.budget_statuses(budgets=list(visible))
    table = Table(
        "budgets",
        "This month against budget",
        ["budget", "amount", "spent", "forecast", "spent %", "forecast %"],
        [
            [
                str(s.budget),
                s.budget.amount,
                s.actual,
                s.forecast,
                f"{s.actual_percent:.0f}",
                f"{s.forecast_percent:.0f}",
            ]
            for s in statuses
        ],
        note=f"Forecast: month to date plus the average of the last {budgets.TRAILING_DAYS} days × the days left.",
    )
    if statuses:
        names = [str(s.budget) for s in statuses]
        table.figure = charts.bar_chart(
            categories=names,
            series={
                "Spent": [money(s.actual) for s in statuses],
                "Forecast": [money(s.forecast) for s in statuses],
                "Budget": [money(s.budget.amount) for s in statuses],
            },
            title=table.title,
            y_title="cost",
        )
    return table, statuses


def grid_html(figures: dict) -> str:
    """The page's charts and tables, rendered once per cached figures."""
    return render_to_string("costs/_grid.html", figures)


def _scope(user) -> str:
    """What the person may see: every team (an admin), or their teams."""
    return "all" if user.is_portal_admin else ",".join(sorted(str(t) for t in user_team_ids(user)))


def dashboard_cached(
    *, user, filters: selectors.CostFilters, stack: str, query: str = "", render=None, refresh: bool = False
) -> dict:
    """The figures (and ``render(figures)``'s HTML as ``html``), from the cache while no cost row,
    day read or budget changed since (bills are read daily: most views are repeats), for at most
    ``CACHE_SECONDS`` (the gateway's request counts and latencies move without a bill); computed
    afresh with ``refresh``. Keyed by what the person may see, the filters and today."""
    key_parts = (_scope(user), filters, stack, query, bool(render), timezone.localdate(), selectors.costs_version())
    key = "costs:dashboard:" + hashlib.sha256(repr(key_parts).encode()).hexdigest()
    cached = None if refresh else cache.get(key)
    if cached is None:
        cached = dashboard(user=user, filters=filters, stack=stack)
        cached["computed"] = f"{key}:{time.time_ns()}"  # this computation: the page body cached from it is its own
        if render is not None:  # a page: its HTML and the few figures around it, not the tables
            cached = {"html": render({**cached, "query": query}), **{k: cached[k] for k in PAGE_KEYS}}
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def body_cached(*, figures: dict, can_budget: bool, idle: list[dict], render) -> str:
    """The page's body (filters, summary, idle endpoints, charts and tables) as ``render()``
    makes it, once per computation of the figures, role (who may ask an idle endpoint's owners)
    and this week's scale-down requests: a repeat view renders only the frame around it (the
    filter form's widgets and the idle list cost more than the rest of a cached view). The body
    holds nothing of the person's own: no CSRF token (the page's one form has it), no name."""
    asked = [(row["endpoint"], row["asked"].pk if row["asked"] else None, row["live"]) for row in idle]
    key = "costs:body:" + hashlib.sha256(repr((figures["computed"], can_budget, asked)).encode()).hexdigest()
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, html, CACHE_SECONDS)
    return html


def dashboards_warm() -> int:
    """Compute the default Costs page (``/costs/``: 90 days by team) of every manager and admin
    afresh, one per scope of teams: after bills are read, and by the beat a little more often than
    the cache forgets (``COSTS_WARM_SECONDS``), so opening Costs is a cache hit, not a page of
    aggregates on the request path (the cache is shared through Redis; a process-local cache only
    warms the worker's). Returns how many scopes were computed."""
    from apps.accounts.models import Role, User

    from .forms import CostFilterForm

    form = CostFilterForm({})
    form.is_valid()  # no input: the defaults, as the page reads them
    data = form.cleaned_data
    filters = selectors.CostFilters(start=data["start"], end=data["end"], team_ids=[], backends=[])
    readers = User.objects.filter(is_active=True, groups__name__in=[Role.MANAGER, Role.ADMIN]).distinct()
    scopes = {}
    for user in readers.order_by("pk"):
        scopes.setdefault(_scope(user), user)
    for user in scopes.values():
        dashboard_cached(user=user, filters=filters, stack=data["stack"], query="", render=grid_html, refresh=True)
    return len(scopes)


def dashboard(*, user, filters: selectors.CostFilters, stack: str) -> dict:
    spend = spend_over_time(user=user, filters=filters, stack=stack)
    budget, statuses = budget_table(user=user, team_ids=filters.team_ids)
    endpoint_costs = selectors.endpoint_serving_costs(user=user, filters=filters)  # one sum for two tables
    prediction_rows = per_prediction_rows(user=user, filters=filters, costs=endpoint_costs)
    top_endpoints = sorted(endpoint_costs.items(), key=lambda item: (-item[1], item[0]))[: selectors.TOP]
    tables = [
        spend,
        budget,
        top(rows=selectors.cost_top(user=user, filters=filters, by="model"), by="model", title="Top models by cost"),
        top(rows=top_endpoints, by="endpoint", title="Top endpoints by cost"),
        per_prediction(prediction_rows),
    ]
    models = [row[0] for row in tables[2].rows]
    extra = insights.insight_tables(user=user, filters=filters, model_names=models, endpoint_costs=endpoint_costs)
    tables += extra[:2]
    idle = [r for r in prediction_rows if r["idle"]]  # the costliest first
    total = sum((row[2] for row in spend.rows), Decimal(0))
    return {
        "tables": tables,
        "performance": extra[2:],
        "has_charts": any(t.figure for t in [*tables, *extra[2:]]),
        "idle": idle[:IDLE_SHOWN],
        "idle_more": max(0, len(idle) - IDLE_SHOWN),
        "statuses": statuses,
        "total": total,
        "days": (filters.end - filters.start).days + 1,
        "previous_end": filters.start - timedelta(days=1),
    }
