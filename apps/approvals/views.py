"""Thin HTML views: read through selectors, write through services.

The inbox (requests waiting for me / mine / all, decided inline with htmx),
a request's page (what is asked, the evidence, the decisions, what followed),
the promotion request form, a version's promotions, and the home panels.
Environments and their policies: environment_views.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError
from apps.core.home import ADMIN, APPROVER, DATA_SCIENTIST, home_panel
from apps.core.htmx import act, domain_error_message, query_without_page, render_page_or_partial
from apps.deployments import selectors as deployment_selectors
from apps.registry import selectors as registry_selectors

from . import outcomes, presenters, rules, selectors, services
from .forms import TABS, InboxFilterForm, PromotionForm
from .models import CheckStatus, Decision, PromotionRequest, Status, WriteBack
from .selectors import RequestFilters

PER_PAGE = 25
IN_FLIGHT = {"pending", "submitting", "running", "cancelling"}


def _promotion(request, pk) -> PromotionRequest:
    rules.require_view(user=request.user)
    try:
        return selectors.request_get(user=request.user, pk=pk)
    except PromotionRequest.DoesNotExist:
        raise Http404 from None


def _version(request, version_id):
    """A model version the person may see (by id), or a 404: through the registry's own scoping."""
    try:
        model = registry_selectors.model_visible(user=request.user).filter(versions__pk=version_id).first()
    except (ValidationError, ValueError):
        model = None
    if model is None:
        raise Http404
    return model.versions.get(pk=version_id)  # .model is ``model``, with its team and connection


# --- the inbox ---------------------------------------------------------------------------------


def _default_tab(user) -> str:
    if user.has_perm(rules.DECIDE):
        return "to_decide"
    if user.has_perm(rules.REQUEST):
        return "mine"
    return "all"


def _mark_decidable(request, rows) -> list[PromotionRequest]:
    """``can_decide`` on each row: open, and this person may still decide it (one query for the lot)."""
    rows = list(rows)
    decidable = set()
    if rows and request.user.has_perm(rules.DECIDE):
        decidable = set(
            selectors.to_decide(user=request.user).filter(pk__in=[r.pk for r in rows]).values_list("pk", flat=True)
        )
    for row in rows:
        row.can_decide = row.pk in decidable
    return rows


@login_required
def inbox(request):
    rules.require_view(user=request.user)
    tabs = dict(TABS)
    tab = request.GET.get("show") if request.GET.get("show") in tabs else _default_tab(request.user)
    names = (
        selectors.environments_visible(user=request.user)
        .prefetch_related(None)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    form = InboxFilterForm(request.GET or None, environments=list(names))
    filters = RequestFilters(
        status=form.value("status"),
        environment=form.value("environment"),
        q=form.value("q"),
        to_decide=tab == "to_decide",
        mine=tab == "mine",
    )
    page = Paginator(selectors.request_list(user=request.user, filters=filters), PER_PAGE).get_page(
        request.GET.get("page")
    )
    page.object_list = _mark_decidable(request, page.object_list)
    return render_page_or_partial(
        request,
        page="approvals/inbox.html",
        partial="approvals/_requests.html",
        context={
            "form": form,
            "page": page,
            "tab": tab,
            "tabs": TABS,
            "query": query_without_page(request),
            "can_decide": request.user.has_perm(rules.DECIDE),
            "can_request": request.user.has_perm(rules.REQUEST),
        },
    )


def _outcome_words(promotion: PromotionRequest, verdict: str) -> str:
    if promotion.status == Status.APPROVED:
        return "Approved: the quorum is reached. Writing it to the registry, then deploying."
    if promotion.status == Status.REJECTED:
        return "Rejected: the requester is told why."
    if verdict == Decision.Verdict.APPROVE:
        return f"Your approval is recorded: {promotion.approvals} of {promotion.policy.approvals_required}."
    return "Recorded."


@login_required
@require_POST
def decide(request, pk):
    """Approve or reject. From the inbox (htmx) the row comes back re-rendered
    with the outcome, or with the refusal in it; from the request page, the page."""
    promotion = _promotion(request, pk)
    verdict = request.POST.get("decision", "")
    comment = request.POST.get("comment", "")
    status, error, success = 200, "", ""
    try:
        services.promotion_decide(user=request.user, request=promotion, decision=verdict, comment=comment)
    except PermissionDenied as exc:
        if not request.htmx:
            raise
        status, error = 403, str(exc) or "You may not decide this request."
    except DomainError as exc:
        status, error = exc.status, domain_error_message(exc)
    promotion = _promotion(request, pk)
    if not error:
        success = _outcome_words(promotion, verdict)
    if request.htmx:
        row = _mark_decidable(request, [promotion])[0]
        context = {"r": row, "error": error, "success": success, "verdict": verdict, "comment": comment}
        return render(request, "approvals/_row.html", context, status=status)
    if error:
        context = _detail_context(request, promotion)
        context.update(decide_error=error, comment=comment, verdict=verdict)
        return render(request, "approvals/request.html", context, status=status)
    messages.success(request, success)
    return redirect(promotion)


# --- a request's page ----------------------------------------------------------------------------


def _evidence_context(promotion: PromotionRequest) -> dict:
    checks = list(promotion.checks.order_by("position", "key"))  # with figures and charts
    for check in checks:
        blocks = presenters.figure_blocks(check.figures)
        check.values = [b for b in blocks if b.kind == "value"]
        check.groups = [b for b in blocks if b.kind != "value"]
        check.figure = presenters.chart_figure(check.chart)
        check.chart_id = f"chart-{check.key}"
    run = promotion.evidence_run
    collecting = run is not None and run.status in IN_FLIGHT
    return {
        "promotion": promotion,
        "checks": checks,
        "evidence_run": run,
        "collecting": collecting,
        "has_charts": any(c.figure for c in checks),
        "blocked": [c for c in checks if c.required and c.status in {CheckStatus.FAILED, CheckStatus.ERROR}],
    }


def _outcome_context(request, promotion: PromotionRequest) -> dict:
    run = promotion.deployment_run
    endpoint = None
    if run is not None and run.params.get("endpoint_id"):
        endpoint = (
            deployment_selectors.endpoints_visible(user=request.user).filter(pk=run.params["endpoint_id"]).first()
        )
    applying = promotion.status == Status.APPROVED and promotion.write_back in {WriteBack.NOT_YET, WriteBack.APPLYING}
    deploying = run is not None and run.status in IN_FLIGHT
    may_retry = (
        promotion.status == Status.APPROVED
        and promotion.write_back == WriteBack.FAILED
        and not rules.retry_refusal(user=request.user, request=promotion)
    )
    return {
        "promotion": promotion,
        "run": run,
        "endpoint": endpoint,
        "endpoint_name": (promotion.deployment or {}).get("endpoint", ""),
        "live": applying or deploying,
        "may_retry": may_retry,
    }


def _detail_context(request, promotion: PromotionRequest) -> dict:
    user = request.user
    policy = promotion.policy
    decisions = list(promotion.decisions.all())
    mine = next((d for d in decisions if d.approver_id == user.pk), None)
    refusal = ""
    if promotion.is_open and mine is None:
        refusal = rules.decide_refusal(user=user, request=promotion)
    version = promotion.model_version
    connection = version.model.connection if version is not None and version.model.connection_id else None
    context = {
        "promotion": promotion,
        "version": version,
        "policy": policy,
        "rules": presenters.policy_rules(policy),
        "deployment": presenters.deployment_fields(
            promotion.deployment,
            connection_name=connection.name if connection else "",
            runner=(
                deployment_selectors.rollout_runner(deployment=promotion.deployment, connection=connection)
                if promotion.deployment and promotion.is_open
                else ""
            ),
        ),
        "decisions": decisions,
        "my_decision": mine,
        "refusal": refusal,
        "can_decide": promotion.is_open and mine is None and not refusal,
        "can_withdraw": promotion.is_open and (promotion.requested_by_id == user.pk or user.is_portal_admin),
        "expires_in": presenters.time_left(promotion.expires_at),
        "gate_run": promotion.gate_step.run if promotion.gate_step_id else None,
    }
    context.update(_evidence_context(promotion))
    context.update(_outcome_context(request, promotion))
    context["promotion"] = promotion
    # plotly.js only where a chart is drawn, or may be once the evidence is in.
    context["with_charts"] = context["has_charts"] or context["collecting"]
    return context


@login_required
def request_detail(request, pk):
    promotion = _promotion(request, pk)
    return render(request, "approvals/request.html", _detail_context(request, promotion))


@login_required
def request_evidence(request, pk):
    """The evidence pack, polled while the evidence run collects it."""
    promotion = _promotion(request, pk)
    return render(request, "approvals/_evidence.html", _evidence_context(promotion))


@login_required
def request_outcome(request, pk):
    """What followed the approval: the write-back, then the deployment, polled while either is under way."""
    promotion = _promotion(request, pk)
    return render(request, "approvals/_outcome.html", _outcome_context(request, promotion))


@login_required
@require_POST
def request_withdraw(request, pk):
    promotion = _promotion(request, pk)
    act(
        request,
        lambda: services.promotion_withdraw(user=request.user, request=promotion),
        "Withdrawn: the approvers no longer see it waiting.",
    )
    return redirect(promotion)


@login_required
@require_POST
def request_retry(request, pk):
    promotion = _promotion(request, pk)
    act(
        request,
        lambda: outcomes.promotion_retry(user=request.user, request=promotion),
        "Trying again: the registry first, then the deployment.",
    )
    return redirect(promotion)


# --- asking for a promotion ----------------------------------------------------------------------


def _form_errors(form, exc: DomainError) -> None:
    """A service's errors beside the form's fields ("deployment.rollout.percent" -> percent)."""
    for key, errors in exc.errors.items():
        name = key.rpartition(".")[2]
        if name in form.fields:
            form.add_error(name, errors)
        elif key.startswith("deployment.rollout"):
            form.add_error("strategy", errors)
        else:
            form.add_error(None, errors)


@login_required
def promotion_new(request):
    rules.require_view(user=request.user)
    if not request.user.has_perm(rules.REQUEST):
        raise PermissionDenied("Your role cannot request promotions.")
    version_id = request.GET.get("version") or request.POST.get("version")
    if not version_id:
        return render(request, "approvals/new.html", {"version": None})
    version = _version(request, version_id)
    model = version.model
    environments = selectors.environments_of_team(team_id=model.team_id) if model.team_id else []
    form = PromotionForm(request.POST or None, environments=environments, model_name=model.name)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            environment = form.cleaned_data["environment"]
            try:
                promotion = services.promotion_request(
                    user=request.user,
                    version=version,
                    environment=environment,
                    deployment=form.deployment(endpoint_default=presenters.endpoint_default(model.name, environment)),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                _form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Requested: {promotion}. The evidence is being collected.")
                return redirect(promotion)
        else:
            status = 400
    context = {
        "version": version,
        "model": model,
        "form": form,
        "environments": environments,
        "open_requests": [r for r in selectors.requests_of_version(version=version) if r.is_open],
    }
    return render(request, "approvals/new.html", context, status=status)


@login_required
def version_promotions(request, version_id):
    """A version's promotions: the "Promotions" section of its page in the
    registry (loaded with htmx, so the registry never imports approvals), or a page."""
    rules.require_view(user=request.user)
    version = _version(request, version_id)
    context = {
        "version": version,
        "model": version.model,
        "promotions": selectors.requests_of_version(version=version),
        "can_request": request.user.has_perm(rules.REQUEST)
        and (request.user.is_portal_admin or request.user.teams.filter(pk=version.model.team_id).exists()),
    }
    return render_page_or_partial(
        request, page="approvals/version.html", partial="approvals/_version_promotions.html", context=context
    )


# --- home panels (apps/core/home.py) -------------------------------------------------------------


@home_panel(
    "approvals.waiting",
    title="Waiting for your decision",
    template="approvals/_home_waiting.html",
    roles=(APPROVER, ADMIN),
    order=5,
)
def home_waiting(request) -> dict:
    rows = selectors.request_list(user=request.user, filters=RequestFilters(to_decide=True))
    return {"count": selectors.to_decide_count(user=request.user), "requests": list(rows[:5])}


@home_panel(
    "approvals.mine",
    title="Your promotion requests",
    template="approvals/_home_mine.html",
    roles=(DATA_SCIENTIST,),
    order=25,
)
def home_mine(request) -> dict:
    rows = selectors.request_list(user=request.user, filters=RequestFilters(mine=True))
    return {"requests": list(rows[:5])}
