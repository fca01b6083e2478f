"""Environments and their policies, for people: every environment of the
person's teams with its current rules in words and its version history; admins
edit a policy (each change a new version) or create an environment. Thin: the
rules live in policies.environment_save."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.selectors import user_teams
from apps.core.errors import DomainError

from . import policies, presenters, rules, selectors
from .forms import EnvironmentForm


def _environment_cards(request, bound: dict | None = None) -> list[dict]:
    """Every environment with its current rules in words, its history, and (admins) its form."""
    can_administer = request.user.has_perm(rules.ADMINISTER)
    teams = list(user_teams(user=request.user)) if can_administer else []
    cards = []
    for environment in selectors.environments_visible(user=request.user).order_by("team__name", "name"):
        policies = list(environment.policies.all())
        current = policies[0] if policies else None
        form = (bound or {}).get(environment.pk)
        if form is None and can_administer:
            form = EnvironmentForm(
                teams=teams, environment=environment, policy=current, prefix=f"env-{environment.pk.hex[:8]}"
            )
        cards.append(
            {
                "environment": environment,
                "policy": current,
                "rules": presenters.policy_rules(current, approver_teams=current.approver_teams.all())
                if current
                else [],
                "history": presenters.policy_changes(policies),
                "form": form,
                "open": bool(bound and environment.pk in bound),
            }
        )
    return cards


def _environments_page(request, *, new_form=None, bound=None, status=200):
    can_administer = request.user.has_perm(rules.ADMINISTER)
    if new_form is None and can_administer:
        new_form = EnvironmentForm(teams=list(user_teams(user=request.user)), prefix="new")
    return render(
        request,
        "approvals/environments.html",
        {
            "cards": _environment_cards(request, bound),
            "new_form": new_form,
            "new_open": new_form is not None and new_form.is_bound,
            "can_administer": can_administer,
        },
        status=status,
    )


def _save(request, form: EnvironmentForm, *, name: str | None = None):
    """The form through environment_save; the environment, or None with the errors on the form."""
    data = form.cleaned_data
    try:
        return policies.environment_save(
            user=request.user,
            team=form.chosen_team(),
            name=name if name is not None else data["name"],
            description=data.get("description", ""),
            approvals_required=data["approvals_required"],
            approver_teams=form.approver_team_list(),
            expiry_days=data["expiry_days"],
            checks=form.checks(),
            sensitive_column=data.get("sensitive_column", ""),
        )
    except DomainError as exc:
        for key, errors in exc.errors.items():
            if key.startswith("checks."):
                parts = key.split(".")
                field = "__".join(["check", *parts[1:]]) if len(parts) > 2 else f"check__{parts[1]}__required"
                form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(key if key in form.fields else None, errors)
        return None


def _require_administer(request) -> None:
    if not request.user.has_perm(rules.ADMINISTER):
        raise PermissionDenied("Only admins change environments and their policies.")


@login_required
def environments(request):
    rules.require_view(user=request.user)
    if request.method != "POST":
        return _environments_page(request)
    _require_administer(request)
    form = EnvironmentForm(request.POST, teams=list(user_teams(user=request.user)), prefix="new")
    if form.is_valid() and (environment := _save(request, form)) is not None:
        messages.success(request, f"Environment {environment.name} of team {environment.team.name} saved.")
        return redirect(f"{reverse('approvals:environments')}#env-{environment.pk}")
    return _environments_page(request, new_form=form, status=400)


@login_required
@require_POST
def environment_edit(request, environment_id):
    rules.require_view(user=request.user)
    _require_administer(request)
    environment = get_object_or_404(selectors.environments_visible(user=request.user), pk=environment_id)
    policies = list(environment.policies.all())
    form = EnvironmentForm(
        request.POST,
        teams=list(user_teams(user=request.user)),
        environment=environment,
        policy=policies[0] if policies else None,
        prefix=f"env-{environment.pk.hex[:8]}",
    )
    if form.is_valid() and _save(request, form, name=environment.name) is not None:
        latest = environment.policies.order_by("-version").first()
        changed = latest is not None and (not policies or latest.version != policies[0].version)
        messages.success(
            request,
            f"Policy of {environment.name} saved as version {latest.version}."
            if changed
            else f"Nothing changed in the policy of {environment.name}.",
        )
        return redirect(f"{reverse('approvals:environments')}#env-{environment.pk}")
    return _environments_page(request, bound={environment.pk: form}, status=400)
