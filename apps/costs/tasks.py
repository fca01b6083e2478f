"""Thin Celery entry points: the daily read of every source's bill, backfills, budget alerts
and their webhook deliveries."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.notifications.webhooks import Refused

from . import budgets, dashboard, ingestion, webhooks

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
    dashboard.dashboards_warm()
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
    dashboard.dashboards_warm()


@shared_task(ignore_result=True)
def warm_dashboards():
    """Beat: the managers' and admins' default Costs pages computed afresh before the cache forgets them."""
    dashboard.dashboards_warm()


def read_at_worker_start(**_):
    """A worker starting reads what is missing at once (``COSTS_READ_AT_START``), rather than at
    the next daily beat: `make run`'s dashboard is filled from the sandboxes' bills in a minute."""
    if settings.COSTS_READ_AT_START:
        ingest_costs_daily.apply_async(countdown=5)


@shared_task(acks_late=True, bind=True, max_retries=5, throws=(Refused,))
def deliver_budget_webhook(self, budget_id: str, payload: dict, alert_id: int | None = None):
    """One signed delivery of a budget alert (or a test), recorded on the alert; a receiver away
    or failing (5xx) is tried again with backoff. A URL now on the portal's own network fails at
    once, with the reason: trying again cannot help (``apps.notifications.deliveries``)."""
    webhooks.webhook_deliver(self, budget_id=budget_id, payload=payload, alert_id=alert_id)
