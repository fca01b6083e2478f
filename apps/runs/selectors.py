from django.db.models import QuerySet

from apps.accounts.models import User
from apps.accounts.selectors import team_scoped

from .models import TERMINAL, Run, RunEvent

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
