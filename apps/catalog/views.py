import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from apps.accounts.selectors import user_teams
from apps.connections.selectors import connections_for
from apps.core.errors import InvalidInput
from apps.core.home import ADMIN, DATA_SCIENTIST, home_panel
from apps.core.htmx import query_without_page, render_page_or_partial
from apps.core.parsers import parse_json
from apps.runs.selectors import run_visible

from . import selectors, services
from .forms import CatalogFilterForm, LaunchTargetForm, TemplateEditForm
from .models import Template
from .schema_form import SchemaForm, parameter_rows

PAGE_SIZE = 24


@login_required
def template_list(request):
    form = CatalogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    templates = selectors.template_pages(user=request.user, **{k: v for k, v in filters.items() if v})
    page = Paginator(templates, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page_or_partial(
        request,
        page="catalog/list.html",
        partial="catalog/_cards.html",
        context={
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "tags": selectors.tag_facets(user=request.user),
        },
    )


def _visible_template(request, slug: str) -> Template:
    return get_object_or_404(
        selectors.template_visible(user=request.user).select_related("owner", "current_version"), slug=slug
    )


@login_required
def template_detail(request, slug: str):
    template = _visible_template(request, slug)
    version = template.current_version
    return render(
        request,
        "catalog/detail.html",
        {
            "template": template,
            "version": version,
            "parameters": parameter_rows(version.parameters, version.ui),
            "versions": template.versions.select_related("created_by").order_by("-number")[:20],
            "runs": selectors.template_recent_runs(template=template, user=request.user),
            "can_launch": request.user.has_perm("runs.add_run") and not template.archived,
        },
    )


@login_required
def template_version(request, slug: str, number: int):
    template = _visible_template(request, slug)
    version = get_object_or_404(template.versions, number=number)
    return render(
        request,
        "catalog/version.html",
        {"template": template, "version": version, "text": services.spec_as_yaml(version.spec)},
    )


@login_required
def template_launch(request, slug: str):
    """Form → review (a dry-run: the plan, nothing created) → launch."""
    if not request.user.has_perm("runs.add_run"):
        raise PermissionDenied("Your role cannot start runs.")
    template = _visible_template(request, slug)
    version = template.current_version
    teams = user_teams(user=request.user)
    target = LaunchTargetForm(
        request.POST or None,
        teams=teams,
        connections=connections_for(user=request.user),
        initial=_rerun_initial(request) or {"team": teams.first()},
    )
    action = request.POST.get("action", "")
    if request.method != "POST":
        form = SchemaForm(version.parameters, ui=version.ui, initial=_rerun_params(request))
        return _launch_page(request, template, form, target)
    if action == "review":
        form = SchemaForm(version.parameters, ui=version.ui, data=request.POST)
        if not (form.is_valid() & target.is_valid()):
            return _launch_page(request, template, form, target, status=400)
        params = form.cleaned_data
    else:
        params = _posted_json(request) or {}
        if action != "launch" or not target.is_valid():  # "back to the form", with what was reviewed
            return _launch_page(
                request, template, SchemaForm(version.parameters, ui=version.ui, initial=params), target
            )
    try:
        return _review_or_launch(request, template, target, params, launch=action == "launch")
    except InvalidInput as error:
        return _launch_page(request, template, _refill(version, params, error), target, error=error, status=400)


def _posted_json(request) -> dict | None:
    try:
        value = parse_json(request.POST.get("params_json", ""))
    except ValueError:  # includes JSON nested too deeply
        return None
    return value if isinstance(value, dict) else None


def _review_or_launch(request, template, target, params, *, launch: bool):
    connection = target.cleaned_data["connection"]
    arguments = {
        "user": request.user,
        "template": template,
        "params": params,
        "backend": connection.kind if connection else "local",
        "connection": connection,
        "team": target.cleaned_data["team"],  # the review checks what the launch will
    }
    if launch:
        run = services.template_launch(**arguments, name=target.cleaned_data["name"])
        messages.success(request, f"Launched {template.name}.")
        return redirect(run)
    plan = services.template_dry_run(**arguments)
    return render(
        request,
        "catalog/review.html",
        {
            "template": template,
            "version": template.current_version,
            "target": target,
            "params": params,
            "params_json": json.dumps(params),
            "plan": plan,
        },
    )


def _refill(version, params, error: InvalidInput) -> SchemaForm:
    form = SchemaForm(version.parameters, ui=version.ui, initial=params)
    param_errors = error.errors.get("params")
    if isinstance(param_errors, dict):
        form.errors = {key: list(value) for key, value in param_errors.items()}
    return form


def _launch_page(request, template, form, target, *, error: InvalidInput | None = None, status: int = 200):
    errors = {}
    if error is not None:
        errors = {k: v for k, v in error.errors.items() if not (k == "params" and isinstance(v, dict))}
    return render(
        request,
        "catalog/launch.html",
        {
            "template": template,
            "version": template.current_version,
            "form": form,
            "target": target,
            "errors": errors,
            "rerun_of": request.GET.get("rerun", ""),
        },
        status=status,
    )


def _rerun_source(request):
    run_id = request.GET.get("rerun")
    if not run_id:
        return None
    try:
        run_id = uuid.UUID(run_id)
    except ValueError:
        raise Http404("No such run.") from None
    return get_object_or_404(run_visible(user=request.user), pk=run_id)


def _rerun_params(request) -> dict | None:
    run = _rerun_source(request)
    return dict(run.params) if run else None


def _rerun_initial(request) -> dict | None:
    run = _rerun_source(request)
    if run is None:
        return None
    return {"team": run.team, "connection": run.connection, "name": run.name}


@login_required
def template_edit(request, slug: str):
    if not request.user.is_portal_admin:
        raise PermissionDenied("Only admins edit templates.")
    template = get_object_or_404(Template.objects.select_related("current_version"), slug=slug)
    form = TemplateEditForm(
        request.POST or None, initial={"text": services.spec_as_yaml(template.current_version.spec)}
    )
    refused = None
    if request.method == "POST" and form.is_valid():
        try:
            version = services.template_edit(template=template, text=form.cleaned_data["text"], user=request.user)
            messages.success(request, f"Saved as version {version.number}.")
            return redirect(template)
        except services.TemplateRefused as error:
            refused = error.errors
    return render(
        request,
        "catalog/edit.html",
        {"template": template, "form": form, "refused": refused},
        status=400 if refused else 200,
    )


@home_panel(
    "catalog.quick", title="Quick launch", template="catalog/_home_launch.html", roles=(DATA_SCIENTIST, ADMIN), order=30
)
def home_quick_launch(request) -> dict:
    return {"templates": selectors.templates_for_home(user=request.user)}
