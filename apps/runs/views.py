from django.apps import apps as django_apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.selectors import user_teams
from apps.connections.selectors import connections_for
from apps.core.errors import DomainError, InvalidInput
from apps.core.home import ADMIN, APPROVER, DATA_SCIENTIST, MANAGER, home_panel
from apps.core.htmx import domain_error_message, query_without_page, render_page_or_partial

from . import hooks, selectors, services
from .forms import RunFilterForm, TrainingForm
from .models import RunKind


@login_required
def run_list(request):
    form = RunFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    runs = selectors.run_table(user=request.user, **{k: v for k, v in filters.items() if v})
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    page.object_list = selectors.run_rows(page.object_list)
    return render_page_or_partial(
        request,
        page="runs/list.html",
        partial="runs/_table.html",
        context={
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "can_start": request.user.has_perm("runs.add_run"),
        },
    )


# One training form: Runs -> New leads to the catalogue's schema-driven form of this template.
TRAINING_TEMPLATE = "tabular-classifier"


@login_required
def run_new(request):
    if not request.user.has_perm("runs.add_run"):
        raise PermissionDenied("Your role cannot start runs.")
    if request.method != "POST":
        return redirect(training_form_url())
    teams = user_teams(user=request.user)
    form = TrainingForm(
        request.POST or None,
        teams=teams,
        connections=connections_for(user=request.user),
        initial={"team": teams.first()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = services.run_create(
                user=request.user,
                kind=RunKind.TRAIN,
                connection=form.cleaned_data["connection"],
                team=form.cleaned_data["team"],
                params=form.params(),
            )
        except InvalidInput as exc:
            form.add_service_errors(exc.errors)
        else:
            return redirect(run)
    return render(request, "runs/new.html", {"form": form}, status=400 if form.errors else 200)


def training_form_url() -> str:
    """The catalogue's launch form of the training template (the catalogue when it is not loaded).
    Looked up by name: the catalogue sits above runs."""
    templates = django_apps.get_model("catalog", "Template").objects
    if templates.filter(slug=TRAINING_TEMPLATE, archived=False).exists():
        return reverse("catalog:launch", args=[TRAINING_TEMPLATE])
    return reverse("catalog:list") + "?kind=train"


def _visible_run(request, pk):
    return get_object_or_404(selectors.run_visible(user=request.user), pk=pk)


@login_required
def run_detail(request, pk):
    run = _visible_run(request, pk)
    full_log = request.GET.get("log") == "full"
    steps = list(run.steps.select_related("decided_by"))
    versions = hooks.model_versions_for(steps)
    for step in steps:
        step.portal_version = versions.get(step.pk)
    context = {
        "run": run,
        "log": selectors.run_log(run=run, full=full_log),
        "full_log": full_log,
        "steps": steps if run.is_template else [],
        "made": steps[0] if len(steps) == 1 and not run.is_template else None,
    }
    return render_page_or_partial(request, page="runs/detail.html", partial="runs/_status.html", context=context)


@login_required
@require_POST
def run_cancel(request, pk):
    run = _visible_run(request, pk)
    try:
        services.run_cancel(run=run, user=request.user)
    except DomainError as exc:
        messages.error(request, domain_error_message(exc))
    else:
        messages.info(request, "Cancel requested.")
    return redirect(run)


@login_required
@require_POST
def run_retry(request, pk):
    """Retry a failed template run from its failed step, as a new linked run."""
    run = _visible_run(request, pk)
    try:
        retry = services.run_retry(run=run, user=request.user)
    except DomainError as exc:
        messages.error(request, domain_error_message(exc))
        return redirect(run)
    messages.success(request, "Retrying from the first step that did not succeed.")
    return redirect(retry)


@login_required
@require_POST
def step_decide(request, pk, step_pk):
    run = _visible_run(request, pk)
    step = get_object_or_404(run.steps.select_related("run"), pk=step_pk)
    try:
        services.step_decide(
            step=step,
            user=request.user,
            approve=request.POST.get("decision") == "approve",
            comment=request.POST.get("comment", "")[:1000],
        )
    except DomainError as exc:
        messages.error(request, domain_error_message(exc))
    return redirect(run)


# --- home panels (apps/core/home.py) ---------------------------------------------------------


@home_panel("runs.mine", title="Your runs", template="runs/_home_mine.html", roles=(DATA_SCIENTIST, ADMIN), order=10)
def home_my_runs(request) -> dict:
    return {
        "in_flight": selectors.runs_in_flight(user=request.user),
        "recent": selectors.runs_recent(user=request.user, mine=True),
        "can_start": request.user.has_perm("runs.add_run"),
    }


@home_panel(
    "runs.gates", title="Runs waiting at an approval step", template="runs/_home_gates.html", roles=(ADMIN,), order=5
)
def home_gates(request) -> dict:
    # Approvers decide gates in their Approvals inbox (its own panel); admins see every waiting gate here.
    return {"gates": selectors.gates_waiting(user=request.user), "can_decide": request.user.is_portal_admin}


@home_panel(
    "runs.team", title="Your teams' recent runs", template="runs/_home_team.html", roles=(MANAGER, APPROVER), order=40
)
def home_team_runs(request) -> dict:
    return {"recent": selectors.runs_recent(user=request.user)}
