"""Signed webhooks for a monitor's alerts: a JSON body POSTed to the monitor's URL from a
worker after commit, with ``X-Atrium-Timestamp`` (Unix seconds) and
``X-Atrium-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the monitor's secret. A receiver recomputes it with the secret it was shown once, and
refuses a timestamp older than a few minutes (a replayed delivery)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    hmac.compare_digest(f"sha256={expected}", signature_header)

The secret is stored encrypted (``apps.core.crypto``) and never shown again; a new one
replaces it on request. Signing and sending are the portal's one implementation,
``apps.notifications.webhooks`` (budgets' webhooks use it too); this module says what a
monitor sends and when.
"""

from __future__ import annotations

from django.db import transaction

DELIVER_TASK = "apps.monitoring.tasks.deliver_webhook"


def webhook_enqueue(*, monitor, payload: dict) -> None:
    """Deliver after the transaction commits (never from inside it), when the monitor has a URL."""
    if not monitor.webhook_url:
        return
    monitor_id = str(monitor.pk)
    transaction.on_commit(lambda: deliver_later(monitor_id, payload))


def deliver_later(monitor_id: str, payload: dict) -> None:
    """Hand the delivery to a worker (``tasks.deliver_webhook``, named: the task imports this module)."""
    from celery import current_app

    current_app.send_task(DELIVER_TASK, args=[monitor_id, payload])


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
