"""Environments and their policies: every change is a new policy version."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput

from . import evidence
from .models import Environment, Policy
from .rules import ADMINISTER

logger = logging.getLogger(__name__)

# --- environments and policies ----------------------------------------------------------

POLICY_FIELDS = ("approvals_required", "expiry_days", "checks", "sensitive_column")


def _policy_errors(approvals_required, expiry_days, checks, sensitive_column) -> dict:
    errors: dict = {}
    if (
        isinstance(approvals_required, bool)
        or not isinstance(approvals_required, int)
        or not 1 <= approvals_required <= 10
    ):
        errors["approvals_required"] = ["A whole number from 1 to 10."]
    if isinstance(expiry_days, bool) or not isinstance(expiry_days, int) or not 1 <= expiry_days <= 90:
        errors["expiry_days"] = ["A whole number of days from 1 to 90."]
    if not isinstance(sensitive_column, str) or len(sensitive_column) > 200:
        errors["sensitive_column"] = ["A column name of at most 200 characters, or empty."]
    if not isinstance(checks, dict):
        errors["checks"] = ["An object of check: settings."]
        return errors
    for key, settings in checks.items():
        check = evidence.CHECKS.get(key)
        if check is None:
            errors[f"checks.{key}"] = [f"Unknown check. One of {', '.join(evidence.CHECKS)}."]
            continue
        if not isinstance(settings, dict):
            errors[f"checks.{key}"] = ["An object of setting: value."]
            continue
        for name, value in settings.items():
            if name == "required":
                if not isinstance(value, bool):
                    errors[f"checks.{key}.required"] = ["true or false."]
            elif name not in check.settings:
                known = ", ".join(["required", *check.settings]) or "required"
                errors[f"checks.{key}.{name}"] = [f"Unknown setting. One of {known}."]
            elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                errors[f"checks.{key}.{name}"] = ["A number, 0 or more (or null for none)."]
    return errors


def environment_save(
    *,
    user: User,
    team: Team,
    name: str,
    description: str = "",
    approvals_required: int = 1,
    approver_teams: list[Team] | None = None,
    expiry_days: int = 7,
    checks: dict | None = None,
    sensitive_column: str = "",
) -> Environment:
    """Create an environment, or change its policy: every change is a new
    policy version (requests keep the version they were judged under)."""
    if not user.has_perm(ADMINISTER):
        raise PermissionDenied("Only admins change environments and their policies.")
    from apps.registry.services import ALIAS, RESERVED_ALIAS  # the environment's name is the alias it sets

    name = (name or "").strip() if isinstance(name, str) else ""
    checks = {} if checks is None else checks
    errors = _policy_errors(approvals_required, expiry_days, checks, sensitive_column)
    if not ALIAS.match(name) or RESERVED_ALIAS.match(name):
        errors["name"] = ["Letters, digits and '_', starting with a letter (it becomes the registry alias)."]
    if not isinstance(description, str) or len(description) > 300:
        errors["description"] = ["At most 300 characters."]
    if errors:
        raise InvalidInput(errors)
    approver_teams = list(approver_teams or [])
    with transaction.atomic():
        environment, created = Environment.objects.select_for_update().get_or_create(
            team=team, name=name, defaults={"description": description}
        )
        if not created and environment.description != description:
            Environment.objects.filter(pk=environment.pk).update(description=description)
        current = environment.policies.order_by("-version").first()
        wanted = {
            "approvals_required": approvals_required,
            "expiry_days": expiry_days,
            "checks": checks,
            "sensitive_column": sensitive_column.strip(),
        }
        same = current is not None and all(getattr(current, f) == wanted[f] for f in POLICY_FIELDS)
        if same and set(current.approver_teams.values_list("pk", flat=True)) == {t.pk for t in approver_teams}:
            return environment
        policy = Policy.objects.create(
            environment=environment, version=(current.version + 1) if current else 1, created_by=user, **wanted
        )
        policy.approver_teams.set(approver_teams)
        audit_record(
            actor=user,
            action="environment.created" if created else "environment.policy_changed",
            target=environment,
            team=team,
            data={"policy_version": policy.version, **wanted, "approver_teams": [t.name for t in approver_teams]},
        )
    return environment


def policy_current(environment: Environment) -> Policy:
    policy = environment.policies.order_by("-version").first()
    if policy is None:
        raise Conflict(f"The environment {environment.name!r} has no policy yet: an admin must set one.")
    return policy
