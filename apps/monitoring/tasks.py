"""Thin Celery entry points: load ids, call a service."""

import httpx
from celery import shared_task

from apps.notifications.webhooks import webhook_send

from . import compute, retraining
from .models import Monitor


@shared_task(acks_late=True)
def evaluate_monitor(monitor_id: str):
    """One monitor's due window: profiled, compared with its reference, stored."""
    compute.monitor_evaluate(monitor_id=monitor_id)


@shared_task
def evaluate_due_monitors():
    """Beat: hand each monitor whose window is due to a worker (claimed: once per window)."""
    for monitor_id in compute.monitors_claim_due():
        evaluate_monitor.delay(monitor_id)


@shared_task(acks_late=True, bind=True, max_retries=5)
def deliver_webhook(self, monitor_id: str, payload: dict):
    """One signed delivery; a receiver away or failing (5xx) is tried again with backoff."""
    monitor = Monitor.objects.filter(pk=monitor_id).values("webhook_url", "webhook_secret").first()
    if not monitor or not monitor["webhook_url"]:
        return
    try:
        status = webhook_send(url=monitor["webhook_url"], stored_secret=monitor["webhook_secret"], payload=payload)
    except httpx.HTTPError as error:
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error
    if status >= 500:
        raise self.retry(countdown=30 * 2**self.request.retries)


@shared_task(acks_late=True)
def retraining_promote(retraining_id: str):
    """A retraining run succeeded: its version becomes the challenger and is asked into the environment."""
    retraining.retraining_promote(retraining_id=retraining_id)
