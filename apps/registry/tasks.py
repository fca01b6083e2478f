"""Thin Celery entry points: load ids, call the sync."""

from celery import shared_task

from apps.backends.base import BackendError
from apps.runs.models import Run

from . import sync
from .models import RegisteredModel


@shared_task(acks_late=True)
def sync_registries(full: bool = False):
    """Beat (incremental; full every so often) and the "Sync now" button."""
    sync.registry_sync(full=full)


@shared_task(bind=True, acks_late=True, max_retries=5)
def sync_model(self, model_id: str):
    model = RegisteredModel.objects.select_related("connection").filter(pk=model_id).first()
    if model is None:
        return
    try:
        sync.model_sync(source=sync.source_of(model), name=model.name)
    except BackendError as exc:
        if not exc.permanent:
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(bind=True, acks_late=True, max_retries=5)
def sync_run_model(self, run_id: str):
    run = Run.objects.select_related("connection").filter(pk=run_id).first()
    if run is None:
        return
    try:
        sync.run_model_sync(run=run)
    except BackendError as exc:
        if not exc.permanent:
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task
def link_recent_runs():
    """Beat: mirror at once the versions that portal runs just registered."""
    for run in sync.runs_unlinked_recent():
        sync_run_model.delay(str(run.pk))
