"""Thin Celery entry points: call the mirror."""

from celery import shared_task

from . import mirror


@shared_task(acks_late=True)
def sync_endpoints(full: bool = False):
    """Beat: every endpoint on every source, found ones re-read when they changed (all of them with ``full``)."""
    mirror.endpoints_sync(full=full)
