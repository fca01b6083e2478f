"""MLflow's registry webhooks (MLflow 3.3+ on a SQL store): the tracking
server tells the portal at once when a model, a version, a tag or an alias
changes, and the portal re-reads that model. The payload is only a hint of
which model to read: MLflow stays the record, as for every other sync.

Off unless ``ATRIUM_MLFLOW_WEBHOOK_SECRET`` is set. Deliveries are signed the
way MLflow signs them (Standard Webhooks style: HMAC-SHA256 over
``<delivery id>.<timestamp>.<body>``, sent as ``v1,<base64>``); an unsigned,
badly signed or stale delivery is refused. The beat and the worker's start
(re)register the webhook, so a restarted MLflow or a new portal address heals.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from django.conf import settings
from django.urls import reverse

from apps.backends import registry as backend_registry

WEBHOOK_NAME = "atrium-registry-sync"
EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
]
MAX_AGE_SECONDS = 300  # older deliveries may be replays


class DeliveryRefused(Exception):
    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


def webhooks_enabled() -> bool:
    return bool(settings.MLFLOW_WEBHOOK_SECRET)


def webhook_url() -> str:
    return settings.MLFLOW_WEBHOOK_URL or settings.PORTAL_URL.rstrip("/") + reverse("registry:mlflow-webhook")


def webhook_ensure(*, url: str | None = None) -> str | None:
    """Register (or refresh) the portal's webhook on the local MLflow. None when webhooks are off."""
    if not webhooks_enabled():
        return None
    backend = backend_registry.get_backend("local")
    return backend.ensure_registry_webhook(
        name=WEBHOOK_NAME, url=url or webhook_url(), events=EVENTS, secret=settings.MLFLOW_WEBHOOK_SECRET
    )


def sign(*, secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def delivery_model_name(*, headers, body: bytes) -> str:
    """The model a signed, fresh delivery names; DeliveryRefused otherwise."""
    if not webhooks_enabled():
        raise DeliveryRefused("MLflow webhooks are not enabled here.", status=404)
    delivery_id = headers.get("X-MLflow-Delivery-Id", "")
    timestamp = headers.get("X-MLflow-Timestamp", "")
    signature = headers.get("X-MLflow-Signature", "")
    if not (delivery_id and timestamp.isdigit() and signature):
        raise DeliveryRefused("Unsigned delivery.", status=401)
    expected = sign(secret=settings.MLFLOW_WEBHOOK_SECRET, delivery_id=delivery_id, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature):
        raise DeliveryRefused("Bad signature.", status=401)
    if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        raise DeliveryRefused("Stale delivery.", status=401)
    try:
        name = json.loads(body)["data"]["name"]
    except (ValueError, KeyError, TypeError):
        raise DeliveryRefused("No model name in the delivery.") from None
    if not isinstance(name, str) or not name or len(name) > 500:
        raise DeliveryRefused("No model name in the delivery.")
    return name
