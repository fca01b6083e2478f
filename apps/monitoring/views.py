"""Thin HTML views of monitoring: the fleet, a monitor over time, a report. Every figure
comes from stored reports (computed in workers); a page only reads and draws."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.catalog import selectors as catalog_selectors
from apps.core import charts
from apps.core.errors import InvalidInput
from apps.core.home import ADMIN, DATA_SCIENTIST, MANAGER, home_panel
from apps.core.htmx import act, render_page_or_partial
from apps.deployments import selectors as endpoint_selectors
from apps.notifications.forms import WebhookForm
from apps.registry import selectors as registry_selectors

from . import selectors, services
from .forms import MonitorForm
from .models import MonitorStatus, ReportStatus, Schedule

PER_PAGE = 25
BLOCKS = "▁▂▃▄▅▆▇█"  # a window's drift share as a bar's height, in text (no inline styles under the CSP)
FEATURE_CHARTS = 12  # features whose statistic over time is drawn (the most drifted)


def _monitor(request, pk):
    services.require_view(user=request.user)
    try:
        return selectors.monitor_get(user=request.user, pk=pk)
    except ObjectDoesNotExist:
        raise Http404("No such monitor.") from None


@login_required
def fleet(request):
    """Every monitor the person's teams own: status, last window, drift share trend."""
    services.require_view(user=request.user)
    page = Paginator(selectors.monitor_table(user=request.user), PER_PAGE).get_page(request.GET.get("page"))
    monitors = list(page.object_list)
    trends = selectors.monitor_trends(monitors=monitors)
    for monitor in monitors:
        shares = [share for _, share in trends.get(monitor.pk, [])]
        monitor.trend = "".join(BLOCKS[min(len(BLOCKS) - 1, int(share * len(BLOCKS)))] for share in shares)
        monitor.trend_label = ", ".join(f"{share:.0%}" for share in shares)
    series = {
        m.name: ([t for t, _ in trends[m.pk]], [s for _, s in trends[m.pk]]) for m in monitors if trends.get(m.pk)
    }
    chart = charts.time_chart(series=series, title="Drift share by window", y_title="share of columns drifted")
    return render(
        request,
        "monitoring/fleet.html",
        {
            "page": page,
            "monitors": monitors,
            "chart": chart if series else None,
            "can_configure": services.can_configure(user=request.user),
            "reports": selectors.report_list(user=request.user).filter(monitor__isnull=True)[:10],
        },
    )


def _monitor_form(request, data=None) -> MonitorForm:
    endpoints = endpoint_selectors.endpoint_list(user=request.user).values_list("name", flat=True)
    versions = registry_selectors.versions_deployable(user=request.user)
    templates = catalog_selectors.template_list(user=request.user, kind="train")
    return MonitorForm(data, endpoints=list(endpoints), versions=versions, templates=list(templates))


@login_required
def monitor_new(request):
    if not services.can_configure(user=request.user):
        raise PermissionDenied("Only data scientists configure monitors.")
    form = _monitor_form(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            monitor = services.monitor_create(user=request.user, **form.service_arguments())
        except InvalidInput as error:
            _form_errors(form, error)
        else:
            first = (
                f"its first window comes once {monitor.volume_rows:,} new input rows are captured"
                if monitor.schedule == Schedule.VOLUME
                else "its first window is evaluated within a minute"
            )
            messages.success(request, f"Monitor {monitor.name} created: {first}.")
            return redirect(monitor)
    return render(request, "monitoring/new.html", {"form": form}, status=400 if form.errors else 200)


def _form_errors(form, error: InvalidInput) -> None:
    """A service's problems beside the form's fields ("columns.age" beside "columns"); the rest above it."""
    for field, problems in error.errors.items():
        name = field.split(".")[0]
        target = name if name in form.fields else None
        for problem in problems:
            form.add_error(target, f"{field}: {problem}" if target is None or name != field else problem)


def _value_tested(row) -> float | None:
    """What the threshold applies to: the p-value where there is one, else the statistic."""
    return row.p_value if row.p_value is not None else row.statistic


def _overlay(row) -> dict | None:
    if row is None or not row.distribution:
        return None
    dist = row.distribution
    return charts.overlay_chart(
        x=dist["x"],
        series={"reference": dist["reference"], "current": dist["current"]},
        title=f"{row.column}: reference vs current",
        numeric=dist.get("kind") == "numeric",
    )


def _feature_context(request, report) -> dict:
    """A report's columns sorted by drift, and the overlay of the one chosen (?feature=)."""
    if report is None or report.status != ReportStatus.SUCCEEDED:
        return {"columns": [], "feature": None, "overlay": None}
    columns = selectors.columns_sorted(report)
    chosen = request.GET.get("feature") or (columns[0].column if columns else "")
    feature = next((row for row in columns if row.column == chosen), None)
    return {"columns": columns, "feature": feature, "overlay": _overlay(feature)}


@login_required
def monitor_detail(request, pk):
    monitor = _monitor(request, pk)
    return render(request, "monitoring/monitor.html", _detail_context(request, monitor))


def _detail_context(request, monitor, webhook_form: WebhookForm | None = None) -> dict:
    history = selectors.monitor_history(monitor=monitor)
    done = [r for r in history if r.status == ReportStatus.SUCCEEDED]
    latest = done[-1] if done else None
    chart_list = []
    if done:
        chart_list.append(
            (
                "drift-share",
                charts.threshold_chart(
                    x=[r.window_end for r in done],
                    y=[r.drift_share for r in done],
                    threshold=latest.drift_share_threshold,
                    title="Drift share over time",
                    y_title="share of columns drifted",
                ),
            )
        )
    context = _feature_context(request, latest)
    by_column = defaultdict(list)
    for report in done:
        for result in report.column_results.all():
            by_column[result.column].append((report.window_end, result))
    for index, row in enumerate(context["columns"][:FEATURE_CHARTS]):
        points = by_column[row.column]
        label = "p-value" if row.p_value is not None else row.method
        chart_list.append(
            (
                f"feature-{index}",
                charts.threshold_chart(
                    x=[t for t, _ in points],
                    y=[_value_tested(c) for _, c in points],
                    threshold=row.threshold,
                    title=f"{row.column} ({row.method})",
                    y_title=label,
                ),
            )
        )
    return {
        "monitor": monitor,
        "latest": latest,
        "windows": list(reversed(history))[:20],
        "alerts": list(selectors.alert_list(monitor=monitor)[:20]),
        "charts": chart_list,
        "can_configure": services.can_configure(user=request.user, team_id=monitor.team_id),
        "drift": MonitorStatus.DRIFT,
        "webhook_form": webhook_form or WebhookForm(initial={"webhook_url": monitor.webhook_url}),
        **context,
    }


@login_required
@require_POST
def monitor_webhook(request, pk):
    """The monitor's webhook set on its page: a URL and the secret deliveries are signed with (a
    blank secret keeps the stored one; a blank URL removes the webhook). Bad input: the page again,
    400, each message beside its field, nothing saved."""
    monitor = _monitor(request, pk)
    services.require_configure(user=request.user, team_id=monitor.team_id)
    form = WebhookForm(request.POST)
    if form.is_valid():
        data = {"webhook_url": form.cleaned_data["webhook_url"], "webhook_secret": form.cleaned_data["webhook_secret"]}
        try:
            monitor = services.monitor_update(user=request.user, monitor=monitor, data=data)
        except InvalidInput as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Webhook saved." if monitor.webhook_url else "Webhook removed.")
            return redirect(monitor)
    return render(request, "monitoring/monitor.html", _detail_context(request, monitor, form), status=400)


@login_required
@require_POST
def monitor_evaluate(request, pk):
    monitor = _monitor(request, pk)
    act(request, lambda: services.monitor_evaluate_now(user=request.user, monitor=monitor), "Window due now.")
    return redirect(monitor)


@login_required
@require_POST
def monitor_toggle(request, pk):
    monitor = _monitor(request, pk)
    enabled = not monitor.enabled
    act(
        request,
        lambda: services.monitor_update(user=request.user, monitor=monitor, data={"enabled": enabled}),
        "Monitor resumed." if enabled else "Monitor paused.",
    )
    return redirect(monitor)


@login_required
@require_POST
def monitor_webhook_test(request, pk):
    monitor = _monitor(request, pk)
    act(
        request,
        lambda: services.monitor_webhook_test(user=request.user, monitor=monitor),
        "A signed test delivery is on its way to the webhook.",
    )
    return redirect(monitor)


@login_required
@require_POST
def monitor_delete(request, pk):
    monitor = _monitor(request, pk)
    services.monitor_delete(user=request.user, monitor=monitor)
    messages.success(request, f"Monitor {monitor.name} deleted.")
    return redirect("monitoring:fleet")


@login_required
def report_detail(request, pk):
    services.require_view(user=request.user)
    try:
        report = selectors.report_get(user=request.user, pk=pk)
    except ObjectDoesNotExist:
        raise Http404("No such drift report.") from None
    context = {"report": report, **_feature_context(request, report)}
    return render_page_or_partial(
        request, page="monitoring/report.html", partial="monitoring/_report_body.html", context=context
    )


@home_panel(
    "monitoring.drift",
    title="Drift",
    template="monitoring/_home_drift.html",
    roles=(DATA_SCIENTIST, MANAGER, ADMIN),
    order=62,
)
def home_drift(request) -> dict:
    return {"monitors": selectors.monitors_for_home(user=request.user)}
