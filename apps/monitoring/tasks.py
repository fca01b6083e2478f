"""Thin Celery entry points: load ids, call a service."""

from datetime import datetime

from celery import shared_task

from apps.notifications.webhooks import Refused

from . import compute, retraining, webhooks


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
def deliver_webhook(self, monitor_id: str, payload: dict, alert_id: str | None = None):
    """One signed delivery, recorded on the alert it carries; a receiver away or failing (5xx) is
    tried again with backoff. A URL now on the portal's own network fails at once, with the
    reason: trying again cannot help (``apps.notifications.deliveries``)."""
    webhooks.webhook_deliver(self, monitor_id=monitor_id, payload=payload, alert_id=alert_id)


@shared_task(acks_late=True)
def retraining_promote(retraining_id: str):
    """A retraining run succeeded: its version becomes the challenger and is asked into the environment."""
    retraining.retraining_promote(retraining_id=retraining_id)
