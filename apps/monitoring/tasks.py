"""Thin Celery entry points: load ids, call a service."""

import logging
from datetime import datetime

import httpx
from celery import shared_task

from apps.notifications.webhooks import Refused, webhook_send

from . import compute, retraining
from .models import Monitor

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def evaluate_monitor(monitor_id: str, start: str | None = None, end: str | None = None):
    """One monitor's due window: profiled, compared with its reference, stored. ``start`` and
    ``end`` (ISO times) are the window a cron firing or a capture volume gave."""
    compute.monitor_evaluate(
        monitor_id=monitor_id,
        start=datetime.fromisoformat(start) if start else None,
        end=datetime.fromisoformat(end) if end else None,
    )


@shared_task
def evaluate_due_monitors():
    """Beat: hand each monitor whose window is due (by time, or by the rows captured since its
    last window) to a worker, claimed: once per window."""
    for claim in [*compute.monitors_claim_due(), *compute.volume_claim_due()]:
        evaluate_monitor.delay(
            claim.monitor_id,
            claim.start.isoformat() if claim.start else None,
            claim.end.isoformat() if claim.end else None,
        )


@shared_task(acks_late=True, bind=True, max_retries=5, throws=(Refused,))
def deliver_webhook(self, monitor_id: str, payload: dict):
    """One signed delivery; a receiver away or failing (5xx) is tried again with backoff. A URL
    now on the portal's own network fails at once, with the reason: trying again cannot help."""
    monitor = Monitor.objects.filter(pk=monitor_id).values("webhook_url", "webhook_secret").first()
    if not monitor or not monitor["webhook_url"]:
        return
    try:
        status = webhook_send(url=monitor["webhook_url"], stored_secret=monitor["webhook_secret"], payload=payload)
    except Refused as error:
        logger.warning("Monitor %s: webhook delivery refused: %s", monitor_id, error)
        raise
    except httpx.HTTPError as error:
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error
    if status >= 500:
        raise self.retry(countdown=30 * 2**self.request.retries)


@shared_task(acks_late=True)
def retraining_promote(retraining_id: str):
    """A retraining run succeeded: its version becomes the challenger and is asked into the environment."""
    retraining.retraining_promote(retraining_id=retraining_id)
