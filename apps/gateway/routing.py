"""The gateway's in-memory view of the portal: routes, key grants, backends and
upstreams, each read from the database or the backend on a miss (in a thread,
one load per key at a time) and kept for a short TTL. A key revoked in the
portal is refused by every gateway process within ``GATEWAY_CACHE_SECONDS``
(the TTL of grants, unknown keys included); a traffic shift applies within the
same time. Variants are picked here, by the route's weights."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError, connection

from apps.backends.base import Endpoints as EndpointsCapability
from apps.backends.base import Upstream, require
from apps.backends.registry import get_backend
from apps.connections.models import Connection
from apps.connections.services import connection_backend
from apps.deployments.selectors import Route, endpoint_route

from .selectors import KeyGrant, key_grant


class TtlCache:
    """Values by key for ``ttl`` seconds; a miss is loaded once (concurrent misses wait for it)."""

    def __init__(
        self,
        loader: Callable[[Any], Any],
        *,
        ttl: float,
        ttl_of: Callable[[Any], float] | None = None,
        max_entries: int = 100_000,
    ):
        self.loader = loader
        self.ttl = ttl
        self.ttl_of = ttl_of  # a TTL the value itself says (at most ``ttl``)
        self.max_entries = max_entries
        self.entries: dict[Any, tuple[Any, float]] = {}
        self.loading: dict[Any, asyncio.Future] = {}

    async def get(self, key):
        entry = self.entries.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        pending = self.loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" warnings
        self.loading[key] = future
        try:
            value = await asyncio.to_thread(self.loader, key)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self.loading.pop(key, None)
        if len(self.entries) >= self.max_entries:
            self.entries.clear()  # bounded memory (a flood of wrong keys): reload what is needed
        ttl = min(self.ttl, self.ttl_of(value)) if self.ttl_of is not None else self.ttl
        expires = time.monotonic() + ttl
        self.entries[key] = (value, expires)
        future.set_result(value)
        return value

    def drop(self, key) -> None:
        self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()


def _with_database(read):
    """Run a read; once more on a fresh connection if the old one broke (database restarted)."""
    try:
        return read()
    except (OperationalError, InterfaceError):
        connection.close()
        return read()


def load_route(name: str) -> Route | None:
    return _with_database(lambda: endpoint_route(name=name))


def load_grant(key_hash: str) -> KeyGrant | None:
    return _with_database(lambda: key_grant(key_hash=key_hash))


def load_backend(source: tuple[str, str | None]):
    kind, connection_id = source
    if connection_id is None:
        return require(get_backend(kind), EndpointsCapability)
    found = _with_database(lambda: Connection.objects.get(pk=connection_id))
    return require(connection_backend(found), EndpointsCapability)


def pick_variant(route: Route, sticky: str | None = None, *, rng: random.Random = random) -> str | None:  # type: ignore[assignment]
    """A variant by the route's weights (percentages); with ``sticky``, the same
    variant for the same value while the weights stay (a hash into 0..99). None
    when the route has no weights: the backend's own split answers."""
    weighted = [(name, weight) for name, weight in sorted(route.weights.items()) if weight > 0]
    if not weighted:
        return route.variants[0] if len(route.variants) == 1 else None
    if len(weighted) == 1:
        return weighted[0][0]
    total = sum(weight for _, weight in weighted)
    point = (zlib.crc32(sticky.encode()) % total) if sticky else rng.random() * total
    for name, weight in weighted:
        if point < weight:
            return name
        point -= weight
    return weighted[-1][0]


class Directory:
    """Routes, grants, backends and upstreams, cached."""

    def __init__(self, *, ttl: float):
        self.routes = TtlCache(load_route, ttl=ttl)
        self.grants = TtlCache(load_grant, ttl=ttl)
        self.backends = TtlCache(load_backend, ttl=300.0)
        self.upstreams = TtlCache(self._load_upstream, ttl=300.0, ttl_of=lambda upstream: upstream.ttl)

    def _load_upstream(self, key: tuple) -> Upstream:
        kind, connection_id, name, variant = key
        backend = self.backends.entries.get((kind, connection_id), (None,))[0]
        if backend is None:
            backend = load_backend((kind, connection_id))
        return backend.invocation_target(name, variant)

    async def upstream(self, route: Route, variant: str | None) -> Upstream:
        await self.backends.get((route.backend, route.connection_id))
        key = (route.backend, route.connection_id, route.name, variant)
        return await self.upstreams.get(key)

    def forget_upstream(self, route: Route, variant: str | None) -> None:
        self.upstreams.drop((route.backend, route.connection_id, route.name, variant))
