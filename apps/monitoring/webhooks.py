"""Signed webhooks for a monitor's alerts: a JSON body POSTed to the monitor's URL from a
worker after commit, with ``X-Atrium-Timestamp`` (Unix seconds) and
``X-Atrium-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the monitor's secret. A receiver recomputes it with the secret it was shown once, and
refuses a timestamp older than a few minutes (a replayed delivery)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    hmac.compare_digest(f"sha256={expected}", signature_header)

The secret is stored encrypted (``apps.core.crypto``) and never shown again: typed by the
person (the monitor's pages, or the API's ``webhook_secret``), or made by the portal when the
API sets a URL without one (shown once in that answer; a new one replaces it on request).
Signing, sending and recording how each alert's delivery went are the portal's one
implementation, ``apps.notifications`` (budgets' webhooks use it too); this module says what
a monitor sends and when.
"""

from __future__ import annotations

from django.db import transaction

from apps.core.errors import InvalidInput
from apps.notifications.deliveries import delivery_attempt, delivery_waiting
from apps.notifications.webhooks import secret_generate, webhook_fields

from .models import DriftAlert, Monitor

DELIVER_TASK = "apps.monitoring.tasks.deliver_webhook"
URL_PROBLEM = "An http(s) URL of at most 500 characters, or empty for none."


def webhook_settings_check(data: dict, *, monitor=None, errors: dict) -> tuple[dict, str]:
    """The webhook fields to set from ``webhook_url``, ``webhook_secret`` and
    ``rotate_webhook_secret`` in ``data`` (each left as it is when absent), with every webhook's
    rules (``webhook_fields``; a blank secret keeps the stored one); and the secret to show once,
    "" unless the portal made one: the API giving a URL and no secret where none is stored, or
    asking for a new one. Problems go into ``errors``."""
    url, secret, rotate = data.get("webhook_url"), data.get("webhook_secret"), data.get("rotate_webhook_secret", False)
    if url is not None and not isinstance(url, str):
        errors["webhook_url"] = [URL_PROBLEM]
    if secret is not None and not isinstance(secret, str):
        errors["webhook_secret"] = ["The secret is a string."]
    if not isinstance(rotate, bool):
        errors["rotate_webhook_secret"] = ["true or false."]
    elif rotate and secret:
        errors["rotate_webhook_secret"] = ["Either give a secret or ask for a new one, not both."]
    if {"webhook_url", "webhook_secret", "rotate_webhook_secret"} & set(errors):
        return {}, ""
    current_url, current_secret = (monitor.webhook_url, monitor.webhook_secret) if monitor else ("", "")
    clear = ""
    if secret is None and (current_url if url is None else url.strip()) and (rotate or not current_secret):
        clear = secret = secret_generate()
    try:
        fields = webhook_fields(url=url, secret=secret, current_url=current_url, current_secret=current_secret)
    except InvalidInput as error:
        errors.update(error.errors)
        return {}, ""
    return fields, clear


def webhook_enqueue(*, monitor, payload: dict, alert=None) -> None:
    """Deliver after the transaction commits (never from inside it), when the monitor has a URL;
    the alert's delivery of this event is waiting from now on."""
    if not monitor.webhook_url:
        return
    if alert is not None:
        delivery_waiting(model=DriftAlert, pk=alert.pk, event=payload["event"])
    args = [str(monitor.pk), payload, str(alert.pk) if alert is not None else None]
    transaction.on_commit(lambda: deliver_later(*args))


def deliver_later(monitor_id: str, payload: dict, alert_id: str | None = None) -> None:
    """Hand the delivery to a worker (``tasks.deliver_webhook``, named: the task imports this module)."""
    from celery import current_app

    current_app.send_task(DELIVER_TASK, args=[monitor_id, payload, alert_id])


def webhook_deliver(task, *, monitor_id: str, payload: dict, alert_id: str | None = None) -> int | None:
    """One attempt of ``task`` to POST a delivery signed with the monitor's secret, recorded on the alert."""
    webhook = Monitor.objects.filter(pk=monitor_id).values("webhook_url", "webhook_secret").first()
    return delivery_attempt(
        task, webhook=webhook, payload=payload, who=f"Monitor {monitor_id}", model=DriftAlert, pk=alert_id
    )


def alert_payload(*, event: str, monitor, alert=None, report=None) -> dict:
    """What a receiver reads: the event, the monitor, the alert and the window, with links."""
    from django.conf import settings

    base = getattr(settings, "PORTAL_URL", "").rstrip("/")
    payload = {
        "event": event,  # "alert.opened", "alert.resolved", "test"
        "monitor": {"id": str(monitor.pk), "name": monitor.name, "url": base + monitor.get_absolute_url()},
    }
    if alert is not None:
        payload["alert"] = {
            "id": str(alert.pk),
            "rule": alert.rule,
            "column": alert.column,
            "message": alert.message,
            "open": alert.resolved_at is None,
        }
    if report is not None:
        payload["report"] = {
            "id": str(report.pk),
            "url": base + report.get_absolute_url(),
            "window_end": report.window_end.isoformat() if report.window_end else None,
            "dataset_drift": report.dataset_drift,
            "drift_share": report.drift_share,
        }
    return payload
