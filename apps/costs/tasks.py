"""Thin Celery entry points: the daily read of every source's bill, backfills, budget alerts."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import budgets, ingestion


@shared_task(acks_late=True)
def ingest_costs_daily():
    """Beat, daily: the last ``COSTS_LOOKBACK_DAYS`` days not yet final, then the budgets' alerts."""
    today = timezone.localdate()
    ingestion.costs_ingest_all(start=today - timedelta(days=settings.COSTS_LOOKBACK_DAYS), end=today)
    budgets.budget_alerts_check(as_of=today)


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
