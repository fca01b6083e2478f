"""Thin Celery entry points of cloud capture (``cloud_capture``): the beat asks
for a pull of every live endpoint in a cloud; each pull is its own task, so a
slow cloud holds up no other endpoint."""

import logging

from celery import shared_task

from apps.backends.base import BackendError
from apps.deployments.selectors import endpoints_in_clouds

from . import cloud_capture

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def pull_cloud_capture():
    for ref in endpoints_in_clouds():
        pull_endpoint_capture.delay(ref.endpoint_id)


@shared_task(bind=True, acks_late=True, max_retries=5)
def pull_endpoint_capture(self, endpoint_id: str):
    """A transient backend error retries with backoff; a permanent one is on the
    endpoint's cursor and the next beat tries again. A backlog is read window by window."""
    try:
        result = cloud_capture.pull(endpoint_id=endpoint_id)
    except BackendError as exc:
        if exc.permanent:
            logger.warning("Cloud capture of endpoint %s: %s", endpoint_id, exc.message)
            return
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc
    if result is not None and result.behind:
        pull_endpoint_capture.delay(endpoint_id)
