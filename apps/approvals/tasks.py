"""Thin Celery entry points: load ids, call a service."""

from celery import shared_task

from . import outcomes


@shared_task(acks_late=True)
def apply_promotion(request_id: str):
    """An approval's write-back, then its deployment (claimed: runs once however often delivered)."""
    outcomes.promotion_apply(request_id=request_id)


@shared_task(acks_late=True)
def record_rejection(request_id: str, user_id: int):
    outcomes.promotion_record_rejection(request_id=request_id, user_id=user_id)


@shared_task(acks_late=True)
def sweep_promotions():
    """Beat: expiry, reminders, approvals a dead worker left mid-apply."""
    outcomes.promotions_sweep()
