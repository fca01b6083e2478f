"""Thin Celery entry points: load ids, call a service."""

from celery import shared_task

from . import compute


@shared_task(acks_late=True)
def evaluate_monitor(monitor_id: str):
    """One monitor's due window: profiled, compared with its reference, stored."""
    compute.monitor_evaluate(monitor_id=monitor_id)


@shared_task
def evaluate_due_monitors():
    """Beat: hand each monitor whose window is due to a worker (claimed: once per window)."""
    for monitor_id in compute.monitors_claim_due():
        evaluate_monitor.delay(monitor_id)
