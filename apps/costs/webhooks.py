"""Budget alerts to a budget's own webhook, signed as drift alerts are (the portal's one
implementation, ``apps.notifications.webhooks``): posted from a worker after commit, and each
alert delivered once (a retry after the receiver's 2xx sends nothing). How each alert's
delivery went is recorded on it (``apps.notifications.deliveries``) and shown with the alert.
The secret is the one the manager typed, stored encrypted and never shown back or logged.

What a receiver reads::

    {"event": "budget.alert" | "test",
     "budget": {"id", "team", "project", "amount", "currency", "url"},
     "alert": {"id", "kind": "actual" | "forecast", "threshold", "month", "spent", "message"}}
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from apps.notifications.deliveries import delivery_attempt, delivery_waiting

from .models import Budget, BudgetAlert

DELIVER_TASK = "apps.costs.tasks.deliver_budget_webhook"


def budget_payload(*, event: str, budget: Budget, alert: BudgetAlert | None = None, message: str = "") -> dict:
    base = getattr(settings, "PORTAL_URL", "").rstrip("/")
    payload = {
        "event": event,
        "budget": {
            "id": str(budget.pk),
            "team": budget.team.slug,
            "project": budget.project,
            "amount": str(budget.amount),
            "currency": budget.currency,
            "url": base + reverse("costs:budget", args=[budget.pk]),
        },
    }
    if alert is not None:
        payload["alert"] = {
            "id": alert.pk,
            "kind": alert.kind,
            "threshold": alert.threshold,
            "month": alert.month.isoformat(),
            "spent": str(alert.spent),
            "message": message,
        }
    return payload


def webhook_enqueue(*, budget: Budget, payload: dict, alert: BudgetAlert | None = None) -> None:
    """Deliver after the transaction commits (never from inside it), when the budget has a URL;
    the alert's delivery is waiting from now on."""
    if not budget.webhook_url:
        return
    if alert is not None:
        delivery_waiting(model=BudgetAlert, pk=alert.pk, event=payload["event"])
    args = [str(budget.pk), payload, alert.pk if alert is not None else None]
    transaction.on_commit(lambda: deliver_later(*args))


def deliver_later(budget_id: str, payload: dict, alert_id: int | None) -> None:
    """Hand the delivery to a worker (``tasks.deliver_budget_webhook``, by name: it imports this module)."""
    from celery import current_app

    current_app.send_task(DELIVER_TASK, args=[budget_id, payload, alert_id])


def webhook_deliver(task, *, budget_id: str, payload: dict, alert_id: int | None = None) -> int | None:
    """One attempt of ``task`` to POST a delivery signed with the budget's secret, recorded on the alert."""
    webhook = Budget.objects.filter(pk=budget_id).values("webhook_url", "webhook_secret").first()
    return delivery_attempt(
        task, webhook=webhook, payload=payload, who=f"Budget {budget_id}", model=BudgetAlert, pk=alert_id
    )
