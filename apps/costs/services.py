"""Every write of costs: budgets (audited) and backfills. Pages, the API and the
tasks call these."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.connections.selectors import connections_for
from apps.core.errors import InvalidInput
from apps.core.scoping import user_team_ids
from apps.notifications.webhooks import webhook_audit, webhook_fields, webhook_test_check

from .ingestion import MAX_RANGE_DAYS
from .models import DEFAULT_THRESHOLDS, Budget
from .webhooks import budget_payload, webhook_enqueue

VIEW, CHANGE_BUDGET, BACKFILL = "costs.view_dailycost", "costs.change_budget", "costs.backfill_dailycost"


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot see costs.")


def can_change_budgets(*, user: User) -> bool:
    return user.has_perm(CHANGE_BUDGET)


def _require_budget_owner(user: User, team: Team) -> None:
    if not user.has_perm(CHANGE_BUDGET):
        raise PermissionDenied("Your role cannot change budgets.")
    if not user.is_portal_admin and team.pk not in user_team_ids(user):
        raise PermissionDenied("Budgets are set by the team's managers.")


def clean_thresholds(value) -> list[int]:
    if value is None or value == []:
        return list(DEFAULT_THRESHOLDS)
    if not isinstance(value, list | tuple) or len(value) > 10:
        raise InvalidInput.one("thresholds", "A list of at most 10 percentages, e.g. [50, 80, 100].")
    try:
        levels = sorted({int(v) for v in value if not isinstance(v, bool) and float(v) == int(v)})
    except (TypeError, ValueError):
        raise InvalidInput.one("thresholds", "Each threshold is a whole percentage, e.g. 80.") from None
    if len(levels) != len(value) or any(not 1 <= v <= 1000 for v in levels):
        raise InvalidInput.one("thresholds", "Each threshold is a different whole percentage from 1 to 1000.")
    return levels


def clean_amount(value) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput.one("amount", "A number, e.g. 1500.00.") from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12"):
        raise InvalidInput.one("amount", "More than 0 and less than a trillion.")
    return amount


def clean_webhook(*, url: str | None, secret: str | None, budget: Budget | None = None) -> dict:
    """The budget's webhook fields to set (``None``: left as it is): the rules every webhook has."""
    current = {"current_url": budget.webhook_url, "current_secret": budget.webhook_secret} if budget else {}
    return webhook_fields(url=url, secret=secret, **current)


def budget_create(
    *,
    user: User,
    team: Team,
    amount,
    project: str = "",
    currency: str = "USD",
    thresholds: list | None = None,
    webhook_url: str = "",
    webhook_secret: str = "",
) -> Budget:
    _require_budget_owner(user, team)
    project = (project or "").strip()
    fields = {"amount": clean_amount(amount), "thresholds": clean_thresholds(thresholds), "currency": currency}
    webhook = clean_webhook(url=webhook_url or "", secret=webhook_secret)
    fields.update(webhook)
    with transaction.atomic():
        if Budget.objects.filter(team=team, project=project).exists():
            raise InvalidInput.one("project", "This team already has a budget for that project (edit it instead).")
        budget = Budget.objects.create(team=team, project=project, created_by=user, **fields)
        audit_record(
            actor=user,
            action="budget.created",
            target=budget,
            team=team,
            data={
                "project": project,
                "amount": str(budget.amount),
                "currency": currency,
                "thresholds": budget.thresholds,
                **webhook_audit(webhook),
            },
        )
        transaction.on_commit(lambda: _check_alerts(budget))
    return budget


def budget_update(
    *,
    user: User,
    budget: Budget,
    amount=None,
    thresholds: list | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Budget:
    """Change what is given (``None``: unchanged; ``webhook_url=""`` removes the webhook)."""
    _require_budget_owner(user, budget.team)
    before = {"amount": str(budget.amount), "thresholds": budget.thresholds, "webhook_url": budget.webhook_url}
    webhook = clean_webhook(url=webhook_url, secret=webhook_secret, budget=budget)
    if amount is not None:
        budget.amount = clean_amount(amount)
    if thresholds is not None:
        budget.thresholds = clean_thresholds(thresholds)
    for name, value in webhook.items():
        setattr(budget, name, value)
    with transaction.atomic():
        budget.save(update_fields=["amount", "thresholds", *webhook, "updated_at"])
        audit_record(
            actor=user,
            action="budget.changed",
            target=budget,
            team=budget.team,
            data={
                "was": before,
                "amount": str(budget.amount),
                "thresholds": budget.thresholds,
                **webhook_audit(webhook),
            },
        )
        transaction.on_commit(lambda: _check_alerts(budget))
    return budget


def _check_alerts(budget: Budget) -> None:
    """A budget set below what is already spent (or forecast) says so now, not at the next daily read."""
    from .budgets import budget_alerts_check

    budget_alerts_check(budgets=[budget])


def budget_webhook_test(*, user: User, budget: Budget) -> None:
    """Send a signed test delivery to the budget's webhook (from a worker, after commit)."""
    _require_budget_owner(user, budget.team)
    webhook_test_check(budget.webhook_url, owner="budget")
    webhook_enqueue(budget=budget, payload=budget_payload(event="test", budget=budget))


def budget_delete(*, user: User, budget: Budget) -> None:
    _require_budget_owner(user, budget.team)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="budget.deleted",
            target=budget,
            team=budget.team,
            data={"project": budget.project, "amount": str(budget.amount)},
        )
        budget.delete()


def costs_backfill(*, user: User, start: date, end: date, connection=None, force: bool = False) -> dict:
    """Read ``start``..``end`` again from the sources the person's teams use (admins: all, and the
    local backend), in a worker. Days already final are not asked for again unless ``force``."""
    if not user.has_perm(BACKFILL):
        raise PermissionDenied("Your role cannot backfill costs.")
    today = timezone.localdate()
    errors = {}
    if start > end:
        errors["end"] = ["Must be on or after start."]
    if end > today:
        errors["end"] = ["Must not be in the future."]
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        errors["start"] = [f"At most {MAX_RANGE_DAYS} days at a time."]
    if errors:
        raise InvalidInput(errors)
    allowed = connections_for(user=user)
    if connection is not None:
        if not allowed.filter(pk=connection.pk).exists():
            raise InvalidInput.one("connection", "That connection is not available to your team, or does not exist.")
        connection_ids, local = [str(connection.pk)], False
    else:
        connection_ids, local = [str(pk) for pk in allowed.values_list("pk", flat=True)], user.is_portal_admin
    payload = {"start": start.isoformat(), "end": end.isoformat(), "connection_ids": connection_ids, "local": local}

    def enqueue():
        from .tasks import backfill_costs

        backfill_costs.delay(**payload, force=force)

    transaction.on_commit(enqueue)
    return {**payload, "force": force, "days": (end - start).days + 1}
