import re
import unicodedata
import uuid
from dataclasses import dataclass
from math import floor

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.accounts.selectors import team_scoped
from apps.core.links import url_for
from apps.core.templatetags.atrium import ago, iso

from . import hooks
from .models import TERMINAL, Run, RunEvent, RunKind, RunStatus, RunStep, StepStatus

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


# What the Runs table shows: no params or outputs to decode, of the team and the person their names.
TABLE_FIELDS = (
    *("id", "name", "kind", "status", "progress", "backend", "created_at"),
    *("team__name", "created_by__username"),
)
_STATUS_LABELS = dict(RunStatus.choices)
_KIND_LABELS = dict(RunKind.choices)


def run_table(**filters) -> QuerySet[Run]:
    """``run_list`` for the Paginator: no joins, so its count reads one index;
    ``run_rows`` reads a page of it as the rows the table shows."""
    return run_list(**filters).select_related(None)


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the Runs table, every cell already formatted: the template only
    places them (a filter or a method call per cell was most of the table's time)."""

    pk: uuid.UUID
    url: str
    name: str
    status: str
    status_label: str
    progress: float
    percent: str  # the progress as floatformat:0 writes it
    kind_label: str
    backend: str
    team: str
    created_by: str
    created_iso: str
    created_ago: str


def run_rows(runs: QuerySet[Run]) -> list[RunRow]:
    """A page of ``run_table`` as rows: one query, of the table's columns only."""
    rows = []
    for pk, name, kind, status, progress, backend, created_at, team, created_by in runs.values_list(*TABLE_FIELDS):
        kind_label = _KIND_LABELS.get(kind, kind)
        rows.append(
            RunRow(
                pk=pk,
                url=url_for("runs:detail", pk),
                name=name or f"{kind_label} {str(pk)[:8]}",  # as Run.__str__
                status=status,
                status_label=_STATUS_LABELS.get(status, status),
                progress=progress,
                percent=str(floor(progress + 0.5)),  # half up, as floatformat (progress is never negative)
                kind_label=kind_label,
                backend=backend,
                team=team,
                created_by=created_by,
                created_iso=iso(created_at),
                created_ago=ago(created_at),
            )
        )
    return rows


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


# --- the run log as people read it ------------------------------------------------------------

# MLflow's own logging: "2025/01/15 10:11:12 INFO mlflow.tracking.fluent: ...".
_BACKEND_LOG = re.compile(
    r"^\d{4}[/-]\d{2}[/-]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s+"
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+([\w.]+):\s?(.*)$"
)
# A timestamp the job put at the start of its own line (the event has one already).
_LEADING_TIME = re.compile(
    r"^\[?(?:\d{4}[/-]\d{2}[/-]\d{2}[ T])?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s+"
)
_LEVEL = re.compile(r"^\[?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]?:?\s+", re.IGNORECASE)


@dataclass(frozen=True)
class LogLine:
    event: RunEvent
    text: str
    level: str  # "", "warning" or "error"


def _is_decoration(text: str) -> bool:
    """MLflow's emoji lines ("🏃 View run … at …", "🧪 View experiment at …")."""
    first = text.lstrip()[:1]
    return bool(first) and unicodedata.category(first) == "So"


def log_line(event: RunEvent, *, full: bool = False) -> LogLine | None:
    """How a stored event reads in the log: its own timestamp stripped, the
    level pulled out; backend noise (MLflow's INFO lines, emoji lines) is
    None unless ``full``. The stored event is never changed."""
    text = event.message
    if event.kind != RunEvent.Kind.LOG:
        return LogLine(event, text, "error" if event.kind == RunEvent.Kind.ERROR else "")
    level = ""
    backend = _BACKEND_LOG.match(text)
    if backend:
        if backend.group(1) in ("DEBUG", "INFO") and not full:
            return None
        level, text = backend.group(1).lower(), backend.group(3)
    elif _is_decoration(text) and not full:
        return None
    text = _LEADING_TIME.sub("", text, count=1)
    found = _LEVEL.match(text)
    if found:
        level, text = found.group(1).lower(), text[found.end() :]
    level = {"warn": "warning", "critical": "error"}.get(level, level)
    return LogLine(event, text, level if level in ("warning", "error") else "")


def run_log(*, run: Run, full: bool = False, limit: int = EVENTS_SHOWN) -> list[LogLine]:
    """The newest ``limit`` events as log lines, oldest first; backend noise
    left out unless ``full`` (it stays stored)."""
    lines = (log_line(event, full=full) for event in run_recent_events(run=run, limit=limit))
    return [line for line in lines if line is not None]


# --- costs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    kind: str
    model_name: str  # the model it trained or scored, as its parameters say
    model_version: str  # the version a batch run scored ("" otherwise)


def run_facts(*, ids) -> dict[str, RunFacts]:
    """{run id: its kind and model} for the runs among ``ids`` (a bill's run tags): one query.
    Strings that are no run id are skipped."""
    import uuid

    valid = []
    for value in set(ids):
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not valid:
        return {}
    rows = Run.objects.filter(pk__in=valid).values_list("pk", "kind", "params")
    return {
        str(pk): RunFacts(
            kind=kind,
            model_name=str((params or {}).get("model_name") or ""),
            model_version=str((params or {}).get("model_version") or ""),
        )
        for pk, kind, params in rows
    }
