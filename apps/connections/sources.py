"""Where the portal's mirrored objects live: this machine's backend or a connection.

The registry's sync and the deployments' endpoint mirror walk the same sources and key
their rows the same way (a model or an endpoint is unique by source and name)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.backends import registry as backend_registry
from apps.backends.base import Backend

from .models import Connection
from .services import connection_backend

LOCAL_SOURCE = "local"


def source_key(connection_id) -> str:
    """The stored key of a source: the local backend, or a connection."""
    return f"connection:{connection_id}" if connection_id else LOCAL_SOURCE


@dataclass(frozen=True)
class Source:
    kind: str
    connection: Connection | None = None

    @property
    def key(self) -> str:
        return source_key(self.connection.pk if self.connection else None)

    @property
    def label(self) -> str:
        return self.connection.name if self.connection else "this machine"

    def backend(self) -> Backend:
        if self.connection is not None:
            return connection_backend(self.connection)
        return backend_registry.get_backend("local")


def sources() -> list[Source]:
    """This machine first, then every connection whose backend is installed, by name."""
    connections = Connection.objects.filter(kind__in=backend_registry.available_kinds()).prefetch_related("teams")
    return [Source(kind="local")] + [Source(kind=c.kind, connection=c) for c in connections.order_by("name")]
