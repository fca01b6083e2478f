"""Thin Celery entry points: load ids, call the sync."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from apps.backends.base import BackendError

from . import sync, webhooks
from .models import RegisteredModel

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def sync_registries(full: bool = False):
    """Beat (incremental; full every so often) and the "Sync now" button."""
    if full and webhooks.webhooks_enabled():
        ensure_mlflow_webhook.delay()
    sync.registry_sync(full=full)


def _retrying(task, call) -> None:
    """Run ``call``: a transient backend error retries the task with backoff;
    a permanent one is logged, and the next sync tries again."""
    try:
        call()
    except BackendError as exc:
        if exc.permanent:
            logger.warning("%s: %s", task.name, exc.message)
            return
        raise task.retry(exc=exc, countdown=min(2 ** (task.request.retries + 1), 120)) from exc


@shared_task(bind=True, acks_late=True, max_retries=5)
def sync_model(self, model_id: str):
    model = RegisteredModel.objects.select_related("connection").filter(pk=model_id).first()
    if model is not None:
        _retrying(self, lambda: sync.model_sync(source=sync.source_of(model), name=model.name))


@shared_task(bind=True, acks_late=True, max_retries=5)
def sync_local_model(self, name: str):
    """A webhook from the local MLflow named this model."""
    _retrying(self, lambda: sync.model_sync(source=sync.Source(kind="local"), name=name))


@shared_task(bind=True, acks_late=True, max_retries=8)
def ensure_mlflow_webhook(self):
    """At the worker's start and with every full sync: MLflow calls us back on changes.
    MLflow may not be up yet when the worker starts, hence the patient retries."""
    _retrying(self, webhooks.webhook_ensure)


@worker_ready.connect
def _register_webhook_on_start(**_):
    if webhooks.webhooks_enabled():
        ensure_mlflow_webhook.delay()
