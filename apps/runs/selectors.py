from django.db.models import QuerySet

from apps.accounts.models import User
from apps.accounts.selectors import team_scoped

from . import hooks
from .models import TERMINAL, Run, RunEvent, RunStep, StepStatus

EVENTS_SHOWN = 500


def run_list(*, user: User, status: str = "", kind: str = "", backend: str = "", mine: bool = False) -> QuerySet[Run]:
    runs = team_scoped(Run.objects.select_related("team", "created_by", "connection"), user=user)
    if status == "open":
        runs = runs.exclude(status__in=TERMINAL)
    elif status:
        runs = runs.filter(status=status)
    if kind:
        runs = runs.filter(kind=kind)
    if backend:
        runs = runs.filter(backend=backend)
    if mine:
        runs = runs.filter(created_by=user)
    return runs


def run_visible(*, user: User) -> QuerySet[Run]:
    return team_scoped(Run.objects.select_related("team", "created_by", "connection"), user=user)


def run_recent_events(*, run: Run, limit: int = EVENTS_SHOWN) -> list[RunEvent]:
    """The newest ``limit`` events, oldest first."""
    return list(reversed(run.events.order_by("-id")[:limit]))


def run_model_versions(*, runs) -> dict:
    """{run id or step id: the portal's model version it registered} for these
    runs and their steps (a run's is its last step's), in two queries."""
    steps = list(
        RunStep.objects.filter(run__in=[run.pk for run in runs], status=StepStatus.SUCCEEDED)
        .exclude(model_name="")
        .order_by("run", "position")
    )
    by_step = hooks.model_versions_for(steps)
    found = dict(by_step)
    for step in steps:
        if step.pk in by_step:
            found[step.run_id] = by_step[step.pk]
    return found


# --- the home page ---------------------------------------------------------------------------


def runs_recent(*, user: User, mine: bool = False, limit: int = 8) -> list[Run]:
    """The newest runs of the person (``mine``) or of their teams: one query."""
    return list(run_list(user=user, mine=mine)[:limit])


def runs_in_flight(*, user: User, limit: int = 8) -> list[Run]:
    """The person's runs not yet ended, newest first: one query."""
    return list(run_list(user=user, status="open", mine=True)[:limit])


def gates_waiting(*, user: User, limit: int = 20) -> list[RunStep]:
    """Approval gates waiting for a decision in runs of the person's teams: one query."""
    steps = team_scoped(
        RunStep.objects.filter(status=StepStatus.WAITING, action=RunStep.APPROVAL),
        user=user,
        team_field="run__team",
    )
    return list(steps.select_related("run", "run__team", "run__created_by").order_by("updated_at")[:limit])
