"""Budget alerts to a budget's own webhook, signed as drift alerts are (the portal's one
implementation, ``apps.notifications.webhooks``): posted from a worker after commit, and each
alert delivered once (``BudgetAlert.webhook_sent_at`` is set on the receiver's 2xx; a retry
after that sends nothing). The secret is the one the manager typed, stored encrypted and
never shown back or logged.

What a receiver reads::

    {"event": "budget.alert" | "test",
     "budget": {"id", "team", "project", "amount", "currency", "url"},
     "alert": {"id", "kind": "actual" | "forecast", "threshold", "month", "spent", "message"}}
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.notifications.webhooks import webhook_send

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
    """Deliver after the transaction commits (never from inside it), when the budget has a URL."""
    if not budget.webhook_url:
        return
    args = [str(budget.pk), payload, alert.pk if alert is not None else None]
    transaction.on_commit(lambda: deliver_later(*args))


def deliver_later(budget_id: str, payload: dict, alert_id: int | None) -> None:
    """Hand the delivery to a worker (``tasks.deliver_budget_webhook``, by name: it imports this module)."""
    from celery import current_app

    current_app.send_task(DELIVER_TASK, args=[budget_id, payload, alert_id])


def webhook_deliver(*, budget_id: str, payload: dict, alert_id: int | None = None) -> int | None:
    """POST one delivery signed with the budget's secret; the receiver's status, or None when
    there is nothing to send (no URL any more, or the alert was delivered already)."""
    budget = Budget.objects.filter(pk=budget_id).values("webhook_url", "webhook_secret").first()
    if not budget or not budget["webhook_url"]:
        return None
    if alert_id is not None and BudgetAlert.objects.filter(pk=alert_id, webhook_sent_at__isnull=False).exists():
        return None
    status = webhook_send(url=budget["webhook_url"], stored_secret=budget["webhook_secret"], payload=payload)
    if alert_id is not None and 200 <= status < 300:
        BudgetAlert.objects.filter(pk=alert_id, webhook_sent_at__isnull=True).update(webhook_sent_at=timezone.now())
    return status
