"""What an endpoint served over time, for splitting its bill by day.

The mirror's ``Variant`` rows are only the latest configuration: a deploy replaces them. The
record of earlier ones is the run engine's: every succeeded deploy step (a plain deploy, a
rollout's canary deploy and its promotion, a guarded deploy) carries the variants it put on
the endpoint (``params["variants"]``: name, model, version, instance count) and when it
finished. Traffic shifts and stages (``EndpointEvent.weights``) move requests between the same
variants; the gateway's per-day request counts already say how requests were split, so only
the variants (which version, how many instances) are read here.

Not covered: an endpoint made or changed outside the portal (found by the mirror) has no
steps; its current variants stand for its whole history, as before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from apps.connections.sources import source_key
from apps.runs.models import RunKind, RunStep, StepStatus

from .selectors import endpoints_visible


@dataclass(frozen=True)
class ServedVariant:
    model_name: str
    model_version: str
    instance_count: int


@dataclass(frozen=True)
class Configuration:
    since: datetime  # when the deploy step that made it finished
    variants: dict[str, ServedVariant]  # by variant name


def variant_history(*, user, names: list[str], until: date) -> dict[str, list[Configuration]]:
    """{endpoint name: its configurations up to ``until`` (included), oldest first} for the
    visible endpoints of ``names`` that the portal deployed. Two queries."""
    if not names:
        return {}
    visible = set(endpoints_visible(user=user).filter(name__in=names).values_list("source", "name"))
    if not visible:
        return {}
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    steps = (
        RunStep.objects.filter(
            action=RunKind.DEPLOY,
            status=StepStatus.SUCCEEDED,
            params__endpoint__in=sorted({name for _, name in visible}),
            finished_at__lt=end,
        )
        .order_by("finished_at", "id")
        .values_list("params", "finished_at", "run__connection_id")
    )
    out: dict[str, list[Configuration]] = {}
    for params, finished_at, connection_id in steps:
        name = params.get("endpoint")
        if (source_key(connection_id), name) not in visible or not isinstance(params.get("variants"), list):
            continue
        variants = {
            str(v["name"]): ServedVariant(
                model_name=str(v.get("model_name", "")),
                model_version=str(v.get("model_version", "")),
                instance_count=int(v.get("instance_count") or 1),
            )
            for v in params["variants"]
            if isinstance(v, dict) and v.get("name")
        }
        if variants:
            out.setdefault(name, []).append(Configuration(since=finished_at, variants=variants))
    return out


def variants_on(history: list[Configuration], day: date) -> dict[str, tuple[ServedVariant, float]]:
    """{variant: (what it served, instance-hours)} on the UTC ``day``: each configuration in force
    for part of it counts for its hours (a variant named in several counts the version it
    served longest). Before the first known configuration, the first one stands."""
    if not history:
        return {}
    start = datetime.combine(day, time.min, tzinfo=UTC)
    stop = start + timedelta(days=1)
    hours: dict[str, dict[ServedVariant, float]] = {}
    for n, config in enumerate(history):
        begin = start if n == 0 else max(start, config.since)
        finish = min(stop, history[n + 1].since) if n + 1 < len(history) else stop
        span = (finish - begin).total_seconds() / 3600
        if span <= 0:
            continue
        for name, served in config.variants.items():
            by_version = hours.setdefault(name, {})
            by_version[served] = by_version.get(served, 0.0) + span
    out = {}
    for name, by_version in hours.items():
        served = max(by_version, key=by_version.get)
        out[name] = (served, sum(v.instance_count * h for v, h in by_version.items()))
    return out
