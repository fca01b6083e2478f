"""Thin HTML views: read through selectors and the dashboard, write through services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.models import Team
from apps.connections.selectors import connections_for
from apps.core.errors import DomainError
from apps.core.home import ADMIN, MANAGER, home_panel
from apps.core.htmx import act, domain_error_message, render_page_or_partial
from apps.registry import selectors as registry_selectors

from . import attribution, budgets, dashboard, idle, selectors, services
from .forms import BudgetForm, CostFilterForm

VERSION_DAYS = 365  # the version page shows a year of what the version cost


def _teams(request):
    user = request.user
    return list(Team.objects.all() if user.is_portal_admin else user.teams.all())


@login_required
def cost_dashboard(request):
    services.require_view(user=request.user)
    teams = _teams(request)
    form = CostFilterForm(request.GET, teams=teams)
    if not form.is_valid():
        return render(request, "costs/dashboard.html", {"form": form, "invalid": True}, status=400)
    data = form.cleaned_data
    filters = selectors.CostFilters(
        start=data["start"],
        end=data["end"],
        team_ids=[data["team"]] if data.get("team") else [],
        backends=[data["backend"]] if data.get("backend") else [],
    )
    query = request.GET.copy()
    download = query.pop("download", [None])[0]
    context = dashboard.dashboard_cached(
        user=request.user,
        filters=filters,
        stack=data["stack"],
        query=query.urlencode(),
        render=None if download else dashboard.grid_html,
    )
    if download:
        table = next((t for t in [*context["tables"], *context["performance"]] if t.key == download), None)
        if table is None:
            raise Http404
        response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="costs-{table.key}-{filters.start}-{filters.end}.csv"'
        return response
    can_budget = services.can_change_budgets(user=request.user)
    idle_rows = _idle_rows(context["idle"], user=request.user)
    body = dashboard.body_cached(
        figures=context,
        can_budget=can_budget,
        idle=idle_rows,
        render=lambda: render_to_string(
            "costs/_dashboard_body.html",
            {**context, "form": form, "filters": filters, "can_budget": can_budget, "idle": idle_rows},
        ),
    )
    can_backfill = request.user.has_perm(services.BACKFILL)
    return render(
        request,
        "costs/dashboard.html",
        {
            "body": body,
            "has_charts": context["has_charts"],
            "ask_owners": can_budget and any(row["live"] for row in idle_rows),
            "filters": filters,
            "can_backfill": can_backfill,
            "connections": list(connections_for(user=request.user).order_by("name")) if can_backfill else [],
            "today": timezone.localdate(),
            "query": query.urlencode(),
        },
    )


def _idle_rows(rows: list[dict], *, user) -> list[dict]:
    """The idle endpoints, each with this week's request to its owners if one was made, and
    whether it is a live endpoint of the person's teams (a bill may name one the portal does not
    serve: nobody to ask). Two queries."""
    names = [r["endpoint"] for r in rows]
    asked = idle.asked_this_week(names=names)
    live = idle.live_endpoint_names(user=user, names=names)
    return [{**row, "asked": asked.get(row["endpoint"]), "live": row["endpoint"] in live} for row in rows]


@login_required
@require_POST
def scale_down_request(request):
    """The idle endpoint's owners are asked to scale it down or delete it (once a week)."""
    name = request.POST.get("endpoint", "")[:100]
    act(
        request,
        lambda: idle.scale_down_request_create(user=request.user, endpoint_name=name),
        f"The owners of {name} were asked to scale it down or delete it.",
    )
    back = request.POST.get("next", "")
    return redirect(f"{reverse('costs:dashboard')}?{back}" if back and "//" not in back else "costs:dashboard")


@login_required
def budget_list(request):
    """The teams' budgets with this month's standing; managers add one here."""
    services.require_view(user=request.user)
    teams = _teams(request)
    form = BudgetForm(request.POST or None, teams=teams)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.budget_create(
                    user=request.user,
                    team=form.teams[data["team"]],
                    project=data["project"],
                    amount=data["amount"],
                    thresholds=data["thresholds"],
                    webhook_url=data["webhook_url"],
                    webhook_secret=data["webhook_secret"],
                )
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                messages.success(request, "Budget saved.")
                return redirect("costs:budgets")
        status = 400
    statuses = budgets.budget_statuses(budgets=list(selectors.budgets_visible(user=request.user)))
    return render(
        request,
        "costs/budgets.html",
        {
            "form": form,
            "statuses": statuses,
            "can_budget": services.can_change_budgets(user=request.user),
            "alerts": selectors.budget_alerts_recent(user=request.user),
        },
        status=status,
    )


def _budget(request, pk):
    services.require_view(user=request.user)
    return get_object_or_404(selectors.budgets_visible(user=request.user), pk=pk)


@login_required
def budget_edit(request, pk):
    budget = _budget(request, pk)
    initial = {
        "team": str(budget.team_id),
        "project": budget.project,
        "amount": budget.amount,
        "thresholds": ", ".join(str(t) for t in budget.levels),
        "webhook_url": budget.webhook_url,
    }
    form = BudgetForm(request.POST or None, teams=[budget.team], initial=initial)
    form.fields["team"].disabled = form.fields["project"].disabled = True
    status = 200
    if request.method == "POST":
        if form.is_valid():
            ok = act(
                request,
                lambda: services.budget_update(
                    user=request.user,
                    budget=budget,
                    amount=form.cleaned_data["amount"],
                    thresholds=form.cleaned_data["thresholds"] or [],
                    webhook_url=form.cleaned_data["webhook_url"],
                    webhook_secret=form.cleaned_data["webhook_secret"] or None,
                ),
                "Budget saved.",
            )
            if ok:
                return redirect("costs:budgets")
        status = 400
    context = {"form": form, "budget": budget, "can_budget": services.can_change_budgets(user=request.user)}
    return render(request, "costs/budget_edit.html", context, status=status)


@login_required
@require_POST
def budget_webhook_test(request, pk):
    budget = _budget(request, pk)
    act(
        request,
        lambda: services.budget_webhook_test(user=request.user, budget=budget),
        "A signed test delivery is on its way to the webhook.",
    )
    return redirect("costs:budget", pk=budget.pk)


@login_required
@require_POST
def budget_delete(request, pk):
    budget = _budget(request, pk)
    act(request, lambda: services.budget_delete(user=request.user, budget=budget), "Budget deleted.")
    return redirect("costs:budgets")


@login_required
@require_POST
def backfill(request):
    from .api.serializers import BackfillSerializer

    body = BackfillSerializer(data=request.POST, context={"request": request})
    if not body.is_valid():
        messages.error(request, " ".join(f"{k}: {' '.join(map(str, v))}" for k, v in body.errors.items()))
        return redirect("costs:dashboard")
    act(
        request,
        lambda: services.costs_backfill(user=request.user, **body.validated_data),
        "Backfill started: the bills are read again in the background.",
    )
    return redirect("costs:dashboard")


@login_required
def version_costs(request, pk):
    """What a model version cost (training, tuning, batch, serving): the "Costs" section of its
    page in the registry (loaded with htmx, so the registry never imports costs), or a page."""
    services.require_view(user=request.user)
    version = registry_selectors.version_visible(user=request.user, pk=pk)
    if version is None:
        raise Http404
    today = timezone.localdate()
    filters = selectors.CostFilters(start=today - timedelta(days=VERSION_DAYS - 1), end=today)
    result = attribution.attribute(user=request.user, filters=filters, model_name=version.model.name)
    mine = next((v for v in result.versions if v.version == version.version), None)
    context = {
        "version": version,
        "model": version.model,
        "days": VERSION_DAYS,
        "categories": [(c, mine.amounts.get(c, 0) if mine else 0) for c in attribution.CATEGORIES],
        "total": mine.total if mine else 0,
        "rule": attribution.RULE,
    }
    return render_page_or_partial(
        request, page="costs/version.html", partial="costs/_version_costs.html", context=context
    )


@home_panel(
    "costs.budget",
    title="Spend this month",
    template="costs/_home_budgets.html",
    roles=(MANAGER, ADMIN),
    order=61,
)
def home_budgets(request) -> dict:
    return {"statuses": budgets.budget_statuses(budgets=list(selectors.budgets_visible(user=request.user)[:6]))}
