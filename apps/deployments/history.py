"""What an endpoint served over time, for splitting its bill by day.

The mirror's ``Variant`` rows are only the latest configuration: a deploy or a sync replaces
them. The record of earlier ones comes from two places, read together in time order:

* the run engine's: every succeeded deploy step (a plain deploy, a rollout's canary deploy and
  its promotion, a guarded deploy) carries the variants it put on the endpoint
  (``params["variants"]``: name, model, version, instance count) and when it finished;
* the mirror's, for an endpoint made or changed outside the portal: the "found" and "changed"
  ``EndpointEvent``s carry the variants the sync saw (``EndpointEvent.variants``, recorded only
  when the versions or instance counts moved). A found endpoint's first configuration stands
  for its days before it was found, as the first deploy step's does.

Traffic shifts and stages (``EndpointEvent.weights``) move requests between the same
variants; the gateway's per-day request counts already say how requests were split, so only
the variants (which version, how many instances) are read here.

Not covered: a change outside the portal is known from the sync that saw it, so the split moves
at the sync's time, up to the beat's interval late (``ATRIUM_ENDPOINT_SYNC_SECONDS``, a minute
by default); a change undone before the next sync is never seen. The mirror leaves the portal's
own endpoints to their runs, so one the portal deployed and someone then changed in the cloud
console keeps its last deploy step's configuration. An endpoint found before the mirror kept
these records has only what it served at its last sync (migration 0003), which stands for the
days before too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from apps.connections.sources import source_key
from apps.runs.models import RunKind, RunStep, StepStatus

from .models import EndpointEvent
from .selectors import endpoints_visible


@dataclass(frozen=True)
class ServedVariant:
    model_name: str
    model_version: str
    instance_count: int


@dataclass(frozen=True)
class Configuration:
    since: datetime  # when the deploy step that made it finished, or the sync that saw it ran
    variants: dict[str, ServedVariant]  # by variant name


def variant_history(*, user, names: list[str], until: date) -> dict[str, list[Configuration]]:
    """{endpoint name: its configurations up to ``until`` (included), oldest first} for the
    visible endpoints of ``names`` that the portal deployed or the mirror found. Three queries
    besides the user's teams: the endpoints, the deploy steps, the mirror's records."""
    if not names:
        return {}
    visible = {
        (source, name): pk
        for pk, source, name in endpoints_visible(user=user).filter(name__in=names).values_list("pk", "source", "name")
    }
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
    records: list[tuple[datetime, str, object]] = [
        (finished_at, params.get("endpoint"), params.get("variants"))
        for params, finished_at, connection_id in steps
        if (source_key(connection_id), params.get("endpoint")) in visible
    ]
    name_of = {pk: name for (_, name), pk in visible.items()}
    seen = (
        EndpointEvent.objects.filter(
            endpoint_id__in=sorted(name_of),
            kind__in=[EndpointEvent.Kind.FOUND, EndpointEvent.Kind.CHANGED],
            at__lt=end,
        )
        .order_by("at", "id")
        .values_list("at", "endpoint_id", "variants")
    )
    records += [(at, name_of[endpoint_id], variants) for at, endpoint_id, variants in seen]
    out: dict[str, list[Configuration]] = {}
    for since, name, recorded in sorted(records, key=lambda record: record[0]):  # stable: steps first on a tie
        variants = _served(recorded)
        if variants:
            out.setdefault(name, []).append(Configuration(since=since, variants=variants))
    return out


def _served(recorded) -> dict[str, ServedVariant]:
    """A deploy step's or a sync's record of the variants, {} if it has none."""
    if not isinstance(recorded, list):
        return {}
    return {
        str(v["name"]): ServedVariant(
            model_name=str(v.get("model_name", "")),
            model_version=str(v.get("model_version", "")),
            instance_count=int(v.get("instance_count") or 1),
        )
        for v in recorded
        if isinstance(v, dict) and v.get("name")
    }


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
