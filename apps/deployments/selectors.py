"""Reads of endpoints: lists for people (team-scoped) and the routing facts the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Prefetch, QuerySet, Sum

from apps.connections.sources import source_key
from apps.core.scoping import team_scoped
from apps.registry.selectors import version_tags

from .guardrails import guarding_backend, rollout_path
from .hardware import endpoint_hardware
from .models import Endpoint, EndpointEvent, EndpointMinute, EndpointState, Variant
from .plans import rollout_settings

# A model version tag naming the input columns whose values are masked before capture
# is written ("ssn,email"). The gateway reads it with the route, never per request.
SENSITIVE_COLUMNS_TAG = "atrium.sensitive_columns"


def endpoints_visible(*, user) -> QuerySet[Endpoint]:
    return team_scoped(Endpoint.objects.all(), user=user).select_related("team", "connection", "rollout_run")


def endpoint_list(*, user, state: str = "", q: str = "") -> QuerySet[Endpoint]:
    endpoints = endpoints_visible(user=user).exclude(state=EndpointState.DELETED)
    if state:
        endpoints = endpoints.filter(state=state)
    if q:
        endpoints = endpoints.filter(name__icontains=q)
    return endpoints.prefetch_related(Prefetch("variants", queryset=Variant.objects.order_by("name")))


def endpoint_get(*, user, pk) -> Endpoint:
    """An endpoint the user may see; Endpoint.DoesNotExist (a 404) otherwise."""
    return endpoints_visible(user=user).prefetch_related("variants").get(pk=pk)


def endpoints_for_home(*, user, limit: int = 6) -> list[Endpoint]:
    """The teams' live endpoints, those rolling out or failing first."""
    return list(
        endpoints_visible(user=user)
        .exclude(state=EndpointState.DELETED)
        .order_by("-rollout_run__created_at", "state", "name")[:limit]
    )


def rollout_runner(*, deployment: dict, connection=None) -> str:
    """Who would run a requested deployment's rollout if it started now, for people: the
    cloud itself (SageMaker's guardrails) or the portal, and why not the cloud where it could
    have. Approvals show it beside the rollout; the endpoint may change before it starts."""
    settings, errors = rollout_settings(deployment.get("rollout") or {})
    if errors or settings["strategy"] == "all_at_once":
        return "no rollout to run: all traffic moves at once"
    source = source_key(connection.pk if connection else None)
    existing = (
        Endpoint.objects.filter(source=source, name=deployment.get("endpoint", ""))
        .exclude(state__in=(EndpointState.DELETED, EndpointState.FAILED))
        .prefetch_related("variants")
        .first()
    )
    baseline = list(existing.variants.all()) if existing else []
    if not baseline:
        return "no rollout to run: the endpoint is new, so the first version takes all traffic"
    candidate = {
        key: deployment[key] for key in ("instance_type", "target", "instance_count") if deployment.get(key)
    } or {"target": "cpu"}
    candidate.setdefault("instance_count", 1)
    path = rollout_path(backend=guarding_backend(connection), baseline=baseline, candidate=candidate, settings=settings)
    if path.native:
        return f"{path.label}, on the CloudWatch alarms the deployment creates"
    why = f" ({path.why.rstrip('.')})" if path.why else ""
    return f"the portal, judged on the gateway's metrics of both versions{why}"


def endpoint_history(*, endpoint: Endpoint, limit: int = 50) -> list[EndpointEvent]:
    return list(endpoint.events.select_related("actor", "run")[:limit])


@dataclass(frozen=True)
class Route:
    """What the gateway needs to forward a request to an endpoint."""

    endpoint_id: str
    name: str
    team_id: int
    backend: str
    connection_id: str | None
    state: str
    weights: dict[str, int]  # the split the portal applies; the gateway picks a variant by it
    variants: tuple[str, ...]
    # Columns any of its versions marks as sensitive (tag SENSITIVE_COLUMNS_TAG). One set for the
    # endpoint, not one per variant: when the backend splits traffic itself the gateway cannot
    # tell which version answered, and the column's data is sensitive whichever reads it.
    sensitive: frozenset[str] = frozenset()


def sensitive_columns(tags: dict) -> frozenset[str]:
    value = (tags or {}).get(SENSITIVE_COLUMNS_TAG) or ""
    return frozenset(column.strip() for column in str(value).split(",") if column.strip())


def endpoint_route(*, name: str) -> Route | None:
    """The live endpoint called ``name`` (endpoint names are unique among live endpoints), or None."""
    endpoint = (
        Endpoint.objects.filter(name=name)
        .exclude(state__in=[EndpointState.DELETED, EndpointState.DELETING])
        .prefetch_related("variants")
        # A name the portal deployed keeps its address: an endpoint found elsewhere under it never takes it.
        .order_by("discovered", "-updated_at")
        .first()
    )
    if endpoint is None:
        return None
    variants = list(endpoint.variants.all())
    served = version_tags(refs=[(endpoint.source, v.model_name, v.model_version) for v in variants])
    return Route(
        endpoint_id=str(endpoint.pk),
        name=endpoint.name,
        team_id=endpoint.team_id,
        backend=endpoint.backend,
        connection_id=str(endpoint.connection_id) if endpoint.connection_id else None,
        state=endpoint.state,
        weights=dict(endpoint.weights),
        variants=tuple(v.name for v in variants),
        sensitive=frozenset().union(*(sensitive_columns(tags) for tags in served.values())),
    )


@dataclass(frozen=True)
class EndpointRef:
    endpoint_id: str
    name: str
    connection_id: str | None


def endpoints_in_clouds() -> list[EndpointRef]:
    """Live endpoints on a connection (a SageMaker or Databricks account): those whose own
    cloud may capture their traffic. Whether it does is the backend's to say."""
    rows = (
        Endpoint.objects.filter(connection__isnull=False)
        .exclude(state__in=[EndpointState.DELETED, EndpointState.DELETING])
        .values_list("pk", "name", "connection_id")
        .order_by("name")
    )
    return [EndpointRef(str(pk), name, str(connection_id)) for pk, name, connection_id in rows]


def endpoint_ref(*, pk) -> EndpointRef | None:
    row = (
        Endpoint.objects.filter(pk=pk)
        .exclude(state__in=[EndpointState.DELETED, EndpointState.DELETING])
        .values_list("pk", "name", "connection_id")
        .first()
    )
    if row is None:
        return None
    return EndpointRef(str(row[0]), row[1], str(row[2]) if row[2] else None)


def endpoint_requests(*, user, start: date, end: date, names: list[str] | None = None) -> dict[str, int]:
    """Requests the gateway served per endpoint name, from ``start`` to ``end`` (whole UTC days,
    both included), of the endpoints the person may see: one query over the per-minute rollups."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    rows = EndpointMinute.objects.filter(
        endpoint__in=endpoints_visible(user=user).values("pk"), minute__gte=since, minute__lt=until
    )
    if names is not None:
        rows = rows.filter(endpoint__name__in=names)
    return {
        name: total or 0
        for name, total in rows.values("endpoint__name")
        .annotate(total=Sum("requests"))
        .order_by()
        .values_list("endpoint__name", "total")
    }


@dataclass(frozen=True)
class ServingPrice:
    """What one live variant costs an hour by its backend's price table (for estimates of days not billed yet)."""

    endpoint: str
    team_id: int
    team_slug: str
    variant: str
    model_name: str
    model_version: str
    per_hour: float
    currency: str
    since: datetime  # when the endpoint was made


def serving_prices(*, connection_id=None, backend: str = "local") -> list[ServingPrice]:
    """The live endpoints of one connection (or of the local backend), each variant with a known
    price per hour. Built from configuration only: no network call."""
    endpoints = (
        Endpoint.objects.exclude(state__in=[EndpointState.DELETED, EndpointState.DELETING, EndpointState.FAILED])
        .select_related("team", "connection")
        .prefetch_related("variants")
    )
    endpoints = (
        endpoints.filter(connection_id=connection_id)
        if connection_id
        else endpoints.filter(connection__isnull=True, backend=backend)
    )
    prices = []
    backends: dict = {}  # one per connection
    for endpoint in endpoints:
        variants = list(endpoint.variants.all())
        found = endpoint_hardware(endpoint, variants, backends=backends)
        for variant in variants:
            hardware = found[variant.name]
            if hardware.per_hour is None:
                continue
            prices.append(
                ServingPrice(
                    endpoint=endpoint.name,
                    team_id=endpoint.team_id,
                    team_slug=endpoint.team.slug,
                    variant=variant.name,
                    model_name=variant.model_name,
                    model_version=variant.model_version,
                    per_hour=hardware.per_hour,
                    currency=hardware.price.currency,
                    since=endpoint.created_at,
                )
            )
    return prices
