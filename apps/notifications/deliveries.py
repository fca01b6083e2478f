"""A webhook delivery from a worker, recorded on the alert it carries (``WebhookDelivery``):
the apps' Celery tasks (budget alerts, drift alerts) load their URL and secret and hand the
attempt to ``delivery_attempt``, one policy for both. Each attempt is recorded as it ends:

* the receiver's 2xx: delivered, with its status;
* a network error or a 5xx: tried again with backoff (30 s, 1 min, 2 min…) while the task has
  retries left, "waiting" meanwhile; the last one is "failed", with the reason;
* any other answer (4xx, a redirect, which is not followed): failed at once;
* a host now on the portal's own network: refused at once, with the reason (trying again
  cannot help).

What is recorded are words a person reads ("The receiver answered 500", "Could not connect:
…"): never the secret, the signature or the headers."""

from __future__ import annotations

import logging

import httpx
from django.db import models
from django.utils import timezone

from .destinations import Refused
from .models import DeliveryState
from .webhooks import TIMEOUT_SECONDS, webhook_send

logger = logging.getLogger(__name__)
BACKOFF_SECONDS = 30  # doubled at each retry


def delivery_waiting(*, model: type[models.Model], pk, event: str) -> None:
    """The alert's delivery of ``event`` is on its way (called where it is enqueued, in the
    transaction that made or resolved the alert): a new delivery starts its record afresh."""
    model.objects.filter(pk=pk).update(
        webhook_state=DeliveryState.WAITING,
        webhook_event=event,
        webhook_attempts=0,
        webhook_attempted_at=None,
        webhook_status_code=None,
        webhook_error="",
    )


def delivery_attempt(
    task, *, webhook: dict | None, payload: dict, who: str, model: type[models.Model], pk=None
) -> int | None:
    """One attempt of ``task`` (a bound Celery task with ``max_retries``) to deliver ``payload`` to
    ``webhook`` (``webhook_url`` and ``webhook_secret`` as stored, None: gone), recorded on the
    alert ``model``/``pk`` when it carries one (a test delivery does not). The receiver's status,
    or None when there is nothing to send: no URL any more, or the alert's delivery of this event
    already went through (a task handed out again after a worker stopped). Raises the task's
    retry, or ``Refused``. ``who`` names the sender in the log, e.g. "Monitor <id>"."""
    event = str(payload.get("event", ""))
    alert = model.objects.filter(pk=pk, webhook_event=event) if pk is not None else None
    if not webhook or not webhook["webhook_url"]:
        if alert is not None:
            alert.filter(webhook_state=DeliveryState.WAITING).update(
                webhook_state=DeliveryState.FAILED,
                webhook_attempted_at=timezone.now(),
                webhook_error="Not sent: the webhook was removed before it could be delivered.",
            )
        return None
    if alert is not None and alert.filter(webhook_state=DeliveryState.DELIVERED).exists():
        return None
    retries = task.request.retries
    last = retries >= task.max_retries

    def record(state: str, *, status: int | None = None, error: str = "") -> None:
        if alert is None:
            return
        # Filtered by event: a later delivery of the same alert (its resolution) owns the record now.
        alert.update(
            webhook_state=state,
            webhook_attempts=retries + 1,
            webhook_attempted_at=timezone.now(),
            webhook_status_code=status,
            webhook_error=error[:500],
        )

    try:
        status = webhook_send(url=webhook["webhook_url"], stored_secret=webhook["webhook_secret"], payload=payload)
    except Refused as error:
        record(DeliveryState.REFUSED, error=f"Refused: {error}")
        logger.warning("%s: webhook delivery refused: %s", who, error)
        raise
    except httpx.HTTPError as error:
        record(DeliveryState.FAILED if last else DeliveryState.WAITING, error=network_problem(error))
        raise task.retry(exc=error, countdown=BACKOFF_SECONDS * 2**retries) from error
    except Exception:
        record(DeliveryState.FAILED, error="Not sent: the portal failed to send it (the worker's log says why).")
        raise
    if 200 <= status < 300:
        record(DeliveryState.DELIVERED, status=status)
    elif status >= 500:
        record(DeliveryState.FAILED if last else DeliveryState.WAITING, status=status, error=answered(status))
        raise task.retry(countdown=BACKOFF_SECONDS * 2**retries)
    else:
        record(DeliveryState.FAILED, status=status, error=answered(status))
    return status


def answered(status: int) -> str:
    if 300 <= status < 400:
        return f"The receiver answered {status} (a redirect: webhooks do not follow them)"
    return f"The receiver answered {status}"


def network_problem(error: httpx.HTTPError) -> str:
    """A network error in words (httpx's own message names the host or address, never a header)."""
    if isinstance(error, httpx.TimeoutException):
        return f"No answer within {TIMEOUT_SECONDS} s"
    text = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        return f"Could not connect: {text}"
    return f"Could not deliver: {text}"
