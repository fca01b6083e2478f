"""Reads of endpoints: lists for people (team-scoped) and the routing facts the gateway needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from apps.core.scoping import team_scoped

from .models import Endpoint, EndpointEvent, EndpointState, Variant


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
    return Route(
        endpoint_id=str(endpoint.pk),
        name=endpoint.name,
        team_id=endpoint.team_id,
        backend=endpoint.backend,
        connection_id=str(endpoint.connection_id) if endpoint.connection_id else None,
        state=endpoint.state,
        weights=dict(endpoint.weights),
        variants=tuple(v.name for v in endpoint.variants.all()),
    )
