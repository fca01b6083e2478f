"""Thin HTML views: read through selectors, write through services."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.backends import registry as backend_registry
from apps.core import charts
from apps.core.errors import DomainError
from apps.core.home import ADMIN, DATA_SCIENTIST, MANAGER, home_panel
from apps.core.htmx import act, query_without_page, render_page_or_partial
from apps.registry import selectors as registry_selectors
from apps.runs.models import RunKind

from . import hardware, selectors, services, telemetry
from .forms import DeployForm, EndpointFilterForm, TrafficForm
from .models import Endpoint, EndpointState
from .rollouts import STAGE_ACTION, judge

PER_PAGE = 25
CHART_WINDOW = timedelta(hours=1)


def _endpoint(request, pk) -> Endpoint:
    services.require_view(user=request.user)
    return get_object_or_404(selectors.endpoints_visible(user=request.user).prefetch_related("variants"), pk=pk)


def _link_versions(request, endpoints) -> None:
    """Each variant's ``version_url``: the portal's version page, one query for the lot."""
    variants = [(e, v) for e in endpoints for v in e.variants.all()]
    urls = registry_selectors.version_urls(
        user=request.user, refs=[(e.source, v.model_name, v.model_version) for e, v in variants]
    )
    for endpoint, variant in variants:
        variant.version_url = urls.get((endpoint.source, variant.model_name, variant.model_version), "")
        variant.weight = endpoint.weights.get(variant.name, 0)


@login_required
def endpoint_list(request):
    services.require_view(user=request.user)
    form = EndpointFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    endpoints = selectors.endpoint_list(user=request.user, state=filters.get("state", ""), q=filters.get("q", ""))
    page = Paginator(endpoints, PER_PAGE).get_page(request.GET.get("page"))
    _link_versions(request, page.object_list)
    return render_page_or_partial(
        request,
        page="deployments/list.html",
        partial="deployments/_endpoints.html",
        context={
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "labels": backend_registry.LABELS,
            "can_deploy": request.user.has_perm(services.CHANGE),
        },
    )


def _live_context(request, endpoint: Endpoint) -> dict:
    """What changes while a rollout runs: the variants (weights, figures, hardware and
    price), the rollout's stages with the figures each is judged on, and the history.
    A finished rollout stays in view (from the history) until the next one."""
    _link_versions(request, [endpoint])
    variants = hardware.variants_with_hardware(endpoint)
    history = selectors.endpoint_history(endpoint=endpoint)
    rollout = endpoint.rollout_run or next(
        (e.run for e in history if e.run is not None and e.run.kind == RunKind.ROLLOUT), None
    )
    steps = list(rollout.steps.all()) if rollout else []
    for step in steps:
        step.judged = _judged(endpoint, step)
    current = next((s for s in steps if s.status not in ("succeeded",)), None)
    now = timezone.now()
    figures = telemetry.figures_by_variant(endpoint_id=endpoint.pk, since=now - CHART_WINDOW)
    return {
        "endpoint": endpoint,
        "variants": variants,
        "rollout": rollout,
        "steps": steps,
        "current": current,
        "figures": figures,
        "history": history,
        "can_change": services.can_change(user=request.user, endpoint=endpoint),
        "rolling": rollout is not None and rollout.status not in ("succeeded", "failed", "cancelled"),
        # {"label", "alarms"} when the cloud runs the rollout (SageMaker deployment guardrails)
        "guardrails": rollout.params.get("guardrails") if rollout else None,
    }


def _judged(endpoint: Endpoint, step) -> list[dict]:
    """The figures a rollout stage judges the candidate on, against the baseline, as people
    read them: a running stage's as it will judge them at its next poll (the engine keeps a
    step's outputs only once it ends), an ended stage's as it last judged them."""
    if step.action != STAGE_ACTION:
        return []
    if step.status == "running" and step.started_at:
        since = step.started_at.replace(second=0, microsecond=0)
        now = telemetry.figures_by_variant(endpoint_id=endpoint.pk, since=since)
        params = step.params or step.inputs
        figures = judge(
            now.get(params["candidate"]), now.get(params["baseline"]), params.get("thresholds") or {}
        ).figures
    else:
        figures = step.outputs.get("figures") if isinstance(step.outputs, dict) else None
    if not isinstance(figures, dict):
        return []
    rows = []
    for role in ("candidate", "baseline"):
        f = figures.get(role) or {}
        rate, p95 = f.get("error_rate"), f.get("p95_ms")
        rows.append(
            {
                "role": role.capitalize(),
                "variant": (step.params or step.inputs).get(role, ""),
                "requests": f.get("requests", 0),
                "errors": f.get("errors", 0),
                "error_rate": "—" if rate is None else f"{rate:.1%}",
                "p95": "—" if p95 is None else f"{p95:.0f} ms",
            }
        )
    return rows


@login_required
def endpoint_detail(request, pk):
    endpoint = _endpoint(request, pk)
    context = _live_context(request, endpoint)
    now = timezone.now()
    context.update(
        labels=backend_registry.LABELS,
        charts=_charts(endpoint, since=now - CHART_WINDOW, until=now + timedelta(minutes=1)),
        charts_live=endpoint.state == EndpointState.IN_SERVICE,
        traffic_form=TrafficForm(variants=context["variants"], weights=endpoint.weights),
        gateway_url=settings.GATEWAY_URL.rstrip("/"),
    )
    return render(request, "deployments/endpoint.html", context)


@login_required
def endpoint_charts(request, pk):
    """The last hour's charts, refreshed every minute while the endpoint serves."""
    endpoint = _endpoint(request, pk)
    now = timezone.now()
    charts = _charts(endpoint, since=now - CHART_WINDOW, until=now + timedelta(minutes=1))
    context = {"endpoint": endpoint, "charts": charts, "charts_live": endpoint.state == EndpointState.IN_SERVICE}
    return render(request, "deployments/_charts.html", context)


@login_required
def endpoint_live(request, pk):
    """The rollout panel and the variants' figures, polled while a rollout runs."""
    endpoint = _endpoint(request, pk)
    return render(request, "deployments/_live.html", _live_context(request, endpoint))


def _charts(endpoint: Endpoint, *, since, until) -> list[tuple[str, dict]]:
    series = telemetry.series(endpoint_id=endpoint.pk, since=since, until=until)
    if not series:
        return []
    made = []
    for key, title, unit in (
        ("requests", "Requests per minute", "requests"),
        ("errors", "Errors (5xx) per minute", "errors"),
        ("p95_ms", "p95 latency", "ms"),
    ):
        made.append(
            (
                f"chart-{key}",
                charts.time_chart(
                    series={variant: (s["minute"], s[key]) for variant, s in series.items()},
                    title=title,
                    y_title=unit,
                    x_range=(since, until),
                ),
            )
        )
    return made


@login_required
def deploy(request):
    services.require_view(user=request.user)
    versions = registry_selectors.versions_deployable(user=request.user)
    initial = {"version": request.GET.get("version", ""), "endpoint": request.GET.get("endpoint", "")}
    form = DeployForm(request.POST or None, versions=versions, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            version = form.versions[form.cleaned_data["version"]]
            try:
                run = services.deployment_start(
                    user=request.user,
                    endpoint=form.cleaned_data["endpoint"],
                    model_name=version.model.name,
                    model_version=version.version,
                    backend=version.model.backend,
                    connection=version.model.connection,
                    team=version.model.team,
                    target=form.cleaned_data["target"],
                    instance_count=form.cleaned_data["instance_count"],
                    rollout=form.rollout(),
                )
            except DomainError as exc:
                for field, errors in exc.errors.items():
                    name = field.rpartition(".")[2]
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, f"Deployment started: {run.name}.")
                return redirect("deployments:endpoint", pk=run.params["endpoint_id"])
        status = 400
    return render(request, "deployments/deploy.html", {"form": form, "has_versions": bool(versions)}, status=status)


@login_required
@require_POST
def endpoint_traffic(request, pk):
    endpoint = _endpoint(request, pk)
    form = TrafficForm(request.POST, variants=endpoint.variants.all())
    if not form.is_valid():
        messages.error(request, "Each weight is a whole number from 0 to 100.")
        return redirect(endpoint)
    weights = form.weights()
    act(
        request,
        lambda: services.endpoint_traffic(user=request.user, endpoint=endpoint, weights=weights),
        "Traffic shift started.",
    )
    return redirect(endpoint)


def _command(request, pk, command: str, success: str):
    endpoint = _endpoint(request, pk)
    act(request, lambda: services.endpoint_command(user=request.user, endpoint=endpoint, command=command), success)
    return redirect(endpoint)


@login_required
@require_POST
def endpoint_promote(request, pk):
    return _command(request, pk, "promote", "Promoting now: the candidate gets all traffic.")


@login_required
@require_POST
def endpoint_rollback(request, pk):
    return _command(request, pk, "rollback", "Rolling back.")


@login_required
@require_POST
def endpoint_delete(request, pk):
    endpoint = _endpoint(request, pk)
    act(request, lambda: services.endpoint_delete(user=request.user, endpoint=endpoint), "Deleting the endpoint.")
    return redirect(endpoint)


@home_panel(
    "deployments.health",
    title="Endpoint health",
    template="deployments/_home_health.html",
    roles=(DATA_SCIENTIST, MANAGER, ADMIN),
    order=60,
)
def home_health(request) -> dict:
    return {"endpoints": selectors.endpoints_for_home(user=request.user)}
