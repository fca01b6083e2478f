"""Thin Celery entry points: load ids, call services."""

import random

from celery import shared_task
from django.conf import settings

from apps.backends.base import BackendError

from . import services

MAX_SUBMIT_RETRIES = 6


def backoff(retries: int) -> float:
    return min(settings.RUN_RETRY_BASE_SECONDS * 2**retries, 300) * random.uniform(0.8, 1.2)


@shared_task(bind=True, acks_late=True, max_retries=MAX_SUBMIT_RETRIES)
def submit_run(self, run_id: str):
    try:
        services.run_submit(run_id=run_id)
    except BackendError as exc:
        if exc.permanent or self.request.retries >= self.max_retries:
            services.run_fail(run_id=run_id, message=exc.message)
            return
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task(acks_late=True)
def poll_run(run_id: str):
    services.run_poll(run_id=run_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_SUBMIT_RETRIES)
def cancel_run(self, run_id: str):
    try:
        services.run_cancel_backend(run_id=run_id)
    except BackendError as exc:
        if exc.permanent or self.request.retries >= self.max_retries:
            services.run_fail(run_id=run_id, message=f"Cancel failed: {exc.message}")
            return
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task
def poll_due_runs():
    """Beat: hand each due run to a worker. No worker waits on a job."""
    for run_id, task in services.runs_claim_due():
        {"poll_run": poll_run, "submit_run": submit_run}[task].delay(run_id)
