"""Signed webhooks for a monitor's alerts: a JSON body POSTed to the monitor's URL from a
worker after commit, with ``X-Atrium-Timestamp`` (Unix seconds) and
``X-Atrium-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the monitor's secret. A receiver recomputes it with the secret it was shown once, and
refuses a timestamp older than a few minutes (a replayed delivery)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    hmac.compare_digest(f"sha256={expected}", signature_header)

The secret is stored encrypted (``apps.core.crypto``) and never shown again; a new one
replaces it on request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from django.db import transaction

from apps.core.crypto import decrypt_json, encrypt_json

SIGNATURE_HEADER = "X-Atrium-Signature"
TIMESTAMP_HEADER = "X-Atrium-Timestamp"
TIMEOUT_SECONDS = 10
DELIVER_TASK = "apps.monitoring.tasks.deliver_webhook"


def secret_new() -> tuple[str, str]:
    """A new secret: (clear, as stored)."""
    clear = secrets.token_urlsafe(32)
    return clear, encrypt_json({"secret": clear})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_send(*, url: str, stored_secret: str, payload: dict) -> int:
    """POST ``payload`` signed; the receiver's status code (raises on a network error)."""
    import httpx

    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = decrypt_json(stored_secret).get("secret", "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atrium-Webhook/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS, follow_redirects=False)
    return response.status_code


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
