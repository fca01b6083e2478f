"""Thin Celery entry points: the daily read of every source's bill, backfills, budget alerts."""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import budgets, ingestion

logger = logging.getLogger(__name__)
RETRY_SECONDS = 60


@shared_task(bind=True, acks_late=True, max_retries=5)
def ingest_costs_daily(self):
    """Beat, daily: the last ``COSTS_LOOKBACK_DAYS`` days not yet final (a source never read:
    its last ``COSTS_FIRST_READ_DAYS``), then the budgets' alerts. A source that failed for a
    passing reason (unreachable, throttled) is tried again in a minute: the others' final days
    are not asked for again."""
    today = timezone.localdate()
    _, failures = ingestion.costs_ingest_all(
        start=today - timedelta(days=settings.COSTS_LOOKBACK_DAYS),
        end=today,
        first_start=today - timedelta(days=settings.COSTS_FIRST_READ_DAYS - 1),
    )
    budgets.budget_alerts_check(as_of=today)
    if any(not exc.permanent for exc in failures.values()) and self.request.retries < self.max_retries:
        raise self.retry(countdown=RETRY_SECONDS)


@shared_task(acks_late=True)
def backfill_costs(*, start: str, end: str, connection_ids: list, local: bool, force: bool = False):
    ingestion.costs_ingest_all(
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
        connection_ids=connection_ids,
        local=local,
        force=force,
    )
    budgets.budget_alerts_check()


def read_at_worker_start(**_):
    """A worker starting reads what is missing at once (``COSTS_READ_AT_START``), rather than at
    the next daily beat: `make run`'s dashboard is filled from the sandboxes' bills in a minute."""
    if settings.COSTS_READ_AT_START:
        ingest_costs_daily.apply_async(countdown=5)
