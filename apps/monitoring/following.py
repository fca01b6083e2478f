"""What follows a retraining run (a run-engine effect registered in ``apps.py``): a run that
succeeded goes on to its challenger and request in a worker (``retraining.retraining_promote``:
registry calls are network calls, never inside the effect's transaction); one that did not
is recorded on its retraining."""

from __future__ import annotations

from django.db import transaction

from . import tasks
from .models import Retraining, RetrainingStatus
from .retraining import retraining_audit


def retraining_run_ended(run) -> None:
    """A run-engine effect (after the run ended, once): a retraining run that succeeded goes
    on to its challenger and request in a worker (registry calls are network calls); one that
    did not is recorded."""
    retraining = (
        Retraining.objects.select_related("monitor__team", "monitor__created_by")
        .filter(run_id=run.pk, status=RetrainingStatus.RUNNING)
        .first()
    )
    if retraining is None:
        return
    if run.status != "succeeded":
        message = f"Retraining run {run} ended {run.status}: no challenger, no request."
        Retraining.objects.filter(pk=retraining.pk).update(status=RetrainingStatus.RUN_FAILED, message=message)
        retraining_audit(retraining, "retraining_failed", run=str(run.pk), status=run.status)
        return
    pk = str(retraining.pk)
    transaction.on_commit(lambda: tasks.retraining_promote.delay(pk))
