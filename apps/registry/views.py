"""Thin HTML views: read through selectors, write through services."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.audit.selectors import audit_of
from apps.backends import registry as backend_registry
from apps.core import charts
from apps.core.home import ADMIN, DATA_SCIENTIST, MANAGER, home_panel
from apps.core.htmx import act, query_without_page, render_page_or_partial

from . import selectors, services, webhooks
from .compare import MAX_COMPARE, MIN_COMPARE, versions_compare
from .forms import AliasForm, ModelFilterForm, TagForm

MODELS_PER_PAGE = 25
VERSIONS_PER_PAGE = 100
# Renderings keyed by the model's revision never go stale; the timeout only bounds the memory.
CACHE_SECONDS = 600


def _model(request, pk):
    services.require_view(user=request.user)
    return get_object_or_404(selectors.model_visible(user=request.user), pk=pk)


def _version(request, pk, version):
    model = _model(request, pk)
    found = selectors.version_get(model=model, version=version)
    if found is None:
        raise Http404
    return model, found


def mlflow_links(model, version=None) -> dict:
    """Links into MLflow's UI, for models of the local MLflow."""
    base = settings.MLFLOW_UI_URL
    if model.backend != "local" or not base:
        return {}
    links = {"model": f"{base}/#/models/{quote(model.name, safe='')}"}
    if version is not None:
        links["version"] = f"{links['model']}/versions/{quote(version.version, safe='')}"
        if version.source_run_id:
            links["run"] = f"{base}/#/runs/{quote(version.source_run_id, safe='')}"
    return links


@login_required
def model_list(request):
    services.require_view(user=request.user)
    form = ModelFilterForm(request.GET or None, teams=selectors.team_choices(user=request.user))
    models = selectors.model_table(user=request.user, filters=form.filters())
    page = Paginator(models, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.model_rows(page.object_list, labels=backend_registry.LABELS)
    return render_page_or_partial(
        request,
        page="registry/list.html",
        partial="registry/_models.html",
        context={
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "sync_states": selectors.sync_states(),
            "can_sync": request.user.has_perm(services.CHANGE),
        },
    )


@login_required
def model_detail(request, pk):
    model = _model(request, pk)
    page = Paginator(selectors.version_table(model=model), VERSIONS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "model": model,
        "page": page,
        "query": query_without_page(request),
        "labels": backend_registry.LABELS,
        "aliases": list(model.aliases.select_related("version").order_by("alias")),
        "mlflow": mlflow_links(model),
        "can_change": services.can_change(user=request.user, model=model),
    }
    if not request.htmx:
        key = f"registry:chart:{model.revision}"
        context["chart"] = cache.get_or_set(key, lambda: _metric_chart(model), CACHE_SECONDS)
    return render_page_or_partial(
        request, page="registry/model.html", partial="registry/_versions.html", context=context
    )


def _metric_chart(model) -> dict | None:
    series = selectors.metric_series(model=model, metric=model.primary_metric)
    if not series:
        return None
    return charts.line_chart(
        x=[f"v{v}" for v, _ in series],
        y=[value for _, value in series],
        labels=[f"v{v}" for v, _ in series],
        title=f"{model.primary_metric} over versions ({model.get_primary_direction_display().lower()})",
        x_title="version",
        y_title=model.primary_metric,
    )


@login_required
def version_detail(request, pk, version):
    model, version = _version(request, pk, version)
    return render(
        request,
        "registry/version.html",
        {
            "model": model,
            "version": version,
            "aliases": version.alias_names,
            "labels": backend_registry.LABELS,
            "mlflow": mlflow_links(model, version),
            "can_change": services.can_change(user=request.user, model=model),
            "alias_form": AliasForm(),
            "tag_form": TagForm(),
            "archived_tag": services.ARCHIVED_TAG,
            "history": audit_of(target=version),
        },
    )


@login_required
def model_compare(request, pk):
    model = _model(request, pk)
    wanted = [v for v in request.GET.getlist("v") if v][: MAX_COMPARE + 1]
    versions = selectors.versions_for_compare(model=model, versions=wanted)
    if not MIN_COMPARE <= len(versions) <= MAX_COMPARE:
        messages.error(request, f"Pick {MIN_COMPARE} to {MAX_COMPARE} versions to compare.")
        return redirect(model)
    comparison = versions_compare(model=model, versions=versions)
    chart = None
    if comparison.metrics:
        chart = charts.grouped_bar_chart(
            categories=[row.name for row in comparison.metrics],
            series={
                f"v{v.version}": [row.cells[i].value for row in comparison.metrics] for i, v in enumerate(versions)
            },
            title="Metrics by version",
        )
    return render(
        request,
        "registry/compare.html",
        {"model": model, "comparison": comparison, "chart": chart, "labels": backend_registry.LABELS},
    )


# --- actions ---------------------------------------------------------------------------


@login_required
@require_POST
def version_alias(request, pk, version):
    model, version = _version(request, pk, version)
    alias = request.POST.get("alias", "").strip()
    act(
        request,
        lambda: services.version_set_alias(user=request.user, version=version, alias=alias),
        f"Alias {alias} now points at version {version.version}.",
    )
    return redirect(version)


@login_required
@require_POST
def version_alias_remove(request, pk, version):
    model, version = _version(request, pk, version)
    alias = request.POST.get("alias", "")
    act(
        request,
        lambda: services.version_remove_alias(user=request.user, version=version, alias=alias),
        f"Alias {alias} removed.",
    )
    return redirect(version)


@login_required
@require_POST
def version_tag(request, pk, version):
    model, version = _version(request, pk, version)
    key, value = request.POST.get("key", ""), request.POST.get("value", "")
    act(
        request,
        lambda: services.version_set_tag(user=request.user, version=version, key=key, value=value),
        f"Tag {key} set.",
    )
    return redirect(version)


@login_required
@require_POST
def version_tag_remove(request, pk, version):
    model, version = _version(request, pk, version)
    key = request.POST.get("key", "")
    act(
        request, lambda: services.version_delete_tag(user=request.user, version=version, key=key), f"Tag {key} removed."
    )
    return redirect(version)


@login_required
@require_POST
def version_archive(request, pk, version):
    model, version = _version(request, pk, version)
    act(request, lambda: services.version_archive(user=request.user, version=version), "Version archived.")
    return redirect(version)


@login_required
@require_POST
def version_unarchive(request, pk, version):
    model, version = _version(request, pk, version)
    act(request, lambda: services.version_unarchive(user=request.user, version=version), "Version unarchived.")
    return redirect(version)


@login_required
@require_POST
def model_sync(request, pk):
    model = _model(request, pk)
    services.model_request_sync(user=request.user, model=model)
    messages.info(request, "Sync requested: the page shows the registry's state once it has run.")
    return redirect(model)


@login_required
@require_POST
def registry_sync(request):
    services.require_view(user=request.user)
    services.registry_request_sync(user=request.user)
    messages.info(request, "Sync of every registry requested.")
    return redirect("registry:models")


@csrf_exempt  # no session or cookie: MLflow signs each delivery instead (webhooks.py)
@require_POST
def mlflow_webhook(request):
    try:
        name = webhooks.delivery_model_name(headers=request.headers, body=request.body)
    except webhooks.DeliveryRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    services.local_model_request_sync(name=name)
    return JsonResponse({"accepted": name}, status=202)


# --- home panels (apps/core/home.py) ---------------------------------------------------------


@home_panel(
    "registry.models",
    title="Your teams' models",
    template="registry/_home_models.html",
    roles=(DATA_SCIENTIST, MANAGER, ADMIN),
    order=20,
)
def home_models(request) -> dict:
    return {"models": selectors.models_for_home(user=request.user)}
