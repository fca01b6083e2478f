"""What follows a step or a run ending, registered by the apps that care.

The engine never calls a feature app: an app registers an effect here (in its
``AppConfig.ready``) and the engine applies every effect after the transition
that ended the step or run has committed, once. "Once" holds across
redelivered tasks, two workers and crashes: each effect writes a ``RunEffect``
row in its own transaction with its work, and a key already written means it
was done. A run with effects still to apply is flagged ``effects_pending``;
the beat sweeps flagged runs a worker died on (``effects_sweep_due``).

Apps also lend the engine what it cannot know itself: the portal's own page
of the model version a step registered (``provide_model_versions``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.notifications.services import notify_gate_waiting, notify_run_finished

from .models import STEP_TERMINAL, TERMINAL, Run, RunEffect, RunStep

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Effect:
    name: str
    on: str  # "step" | "run"
    statuses: frozenset[str]
    apply: Callable


_effects: dict[str, Effect] = {}


def on_step_end(name: str, *, statuses: Iterable[str] = ("succeeded",)):
    """Register ``fn(step)`` to run once when a step of any run ends in one of ``statuses``."""

    def register(fn):
        _effects[name] = Effect(name=name, on="step", statuses=frozenset(statuses), apply=fn)
        return fn

    return register


def on_run_end(name: str, *, statuses: Iterable[str] = TERMINAL):
    """Register ``fn(run)`` to run once when a run ends in one of ``statuses``."""

    def register(fn):
        _effects[name] = Effect(name=name, on="run", statuses=frozenset(statuses), apply=fn)
        return fn

    return register


def effects_apply(*, run_id) -> None:
    """Apply the effects the run's ended steps and the run itself are owed.

    The run stays flagged until every effect it is owed is done: a worker that
    dies (or loses its database) midway leaves the flag for the sweep, never a
    run that looks settled with a notification or a model link missing."""
    if not Run.objects.filter(pk=run_id, effects_pending=True).exists():
        return  # nothing ended since the last time
    run = Run.objects.select_related("team", "connection", "created_by").get(pk=run_id)
    done = set(RunEffect.objects.filter(run=run).values_list("key", flat=True))
    failed = False
    for effect, target, key in _owed(run):
        if key in done:
            continue
        try:
            with transaction.atomic():
                RunEffect.objects.create(run=run, key=key)  # one row per key: a second worker's insert fails
                effect.apply(target)
        except IntegrityError:
            continue  # another worker did it
        except Exception:
            logger.exception("run %s: effect %s failed; the sweep will try again", run.pk, key)
            failed = True
    if not failed:
        _effects_settle(run_id)


def _owed(run: Run) -> list[tuple[Effect, Run | RunStep, str]]:
    """Every effect the run's ended steps and the run itself are owed, done or not."""
    steps = list(run.steps.filter(status__in=STEP_TERMINAL, reused_from__isnull=True))
    owed = []
    for effect in _effects.values():
        for target in [run] if effect.on == "run" else steps:
            if target.status in effect.statuses:
                if isinstance(target, RunStep):
                    target.run = run  # no query per step
                owed.append((effect, target, f"{effect.name}:{target.pk}"))
    return owed


def _effects_settle(run_id) -> None:
    """Clear the run's flag if nothing is owed any more. The run's row is locked, so a
    step that ends meanwhile either is seen here or flags the run again after."""
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("team", "created_by").get(pk=run_id)
        done = set(RunEffect.objects.filter(run=run).values_list("key", flat=True))
        if all(key in done for _, _, key in _owed(run)):
            Run.objects.filter(pk=run_id).update(effects_pending=False)


def effects_sweep_due(*, older_than: timedelta = timedelta(seconds=30), limit: int = 100) -> list[str]:
    """Runs whose effects a worker left undone (it died between the transition and them)."""
    cutoff = timezone.now() - older_than
    due = Run.objects.filter(effects_pending=True, updated_at__lt=cutoff).values_list("pk", flat=True)[:limit]
    return [str(pk) for pk in due]


# --- the engine's own effects ------------------------------------------------------------


@on_run_end("notify")
def _notify_finished(run: Run) -> None:
    notify_run_finished(run=run)


_gate_listeners: list[Callable[..., bool]] = []


def on_gate_waiting(fn: Callable[..., bool]) -> Callable[..., bool]:
    """Register ``fn(run=, step=) -> bool``: a gate began to wait; True when the
    app took it over (the approvals app makes a request its approvers decide)."""
    _gate_listeners.append(fn)
    return fn


def gate_waiting(*, run: Run, step: RunStep) -> None:
    """A gate began to wait (the step moved by compare-and-swap, so this runs
    once). An app that takes it over tells the people who decide; otherwise
    the admins hear of it, as they alone can release it then."""
    for listener in _gate_listeners:
        try:
            with transaction.atomic():
                if listener(run=run, step=step):
                    return
        except Exception:
            logger.exception("run %s: the gate %s could not be handed over; admins decide it", run.pk, step.key)
    notify_gate_waiting(run=run, step=step)


# --- what apps lend the engine ---------------------------------------------------------------

_model_version_provider: Callable[[list[RunStep]], dict] | None = None


def provide_model_versions(fn: Callable[[list[RunStep]], dict]) -> None:
    """``fn(steps)`` -> {step id: {"id", "name", "version", "url"}} of the portal's
    own model-version pages for the versions those steps registered, in a
    constant number of queries."""
    global _model_version_provider
    _model_version_provider = fn


def model_versions_for(steps: list[RunStep]) -> dict:
    candidates = [s for s in steps if s.model_name and s.model_version]
    if not candidates or _model_version_provider is None:
        return {}
    return _model_version_provider(candidates)
