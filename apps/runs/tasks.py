"""Thin Celery entry points: load ids, call the engine."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import engine, hooks
from .models import Run

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def advance_run(run_id: str):
    """Start, poll, cancel or finish the run's current step (``engine.run_advance``).
    The task boundary: an exception that escaped the engine is a bug; it is logged
    with its traceback and fails the current step readably, never retried for ever.
    A database error is not the step's: the run is left for the beat to hand back."""
    try:
        engine.run_advance(run_id=run_id)
    except Run.DoesNotExist:
        logger.info("run %s: gone (deleted) before its turn", run_id)
    except (OperationalError, InterfaceError) as exc:
        # The database, not the step: a dropped connection, a deadlock, a failover. Every
        # move is a compare-and-swap, so the beat hands the run back (it is due) and it goes on.
        logger.warning("run %s: database error, the beat will hand the run back: %s", run_id, exc)
    except Exception as exc:
        logger.exception("run %s: the engine raised", run_id)
        engine.step_crashed(run_id=run_id, error=exc)


@shared_task(acks_late=True)
def apply_effects(run_id: str):
    hooks.effects_apply(run_id=run_id)


@shared_task
def poll_due_runs():
    """Beat: hand each due run to a worker (no worker waits on a job), and
    the effects a dead worker left undone."""
    for run_id in engine.runs_claim_due():
        advance_run.delay(run_id)
    for run_id in hooks.effects_sweep_due():
        apply_effects.delay(run_id)
