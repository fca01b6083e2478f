"""The backends a check talks to besides the request's own (``ctx.backend``,
the candidate's registry): the champion's registry when it lives elsewhere,
and the backend the deployment is to run on (its price table)."""

from __future__ import annotations

import uuid

from apps.backends import registry as backend_registry
from apps.connections.models import Connection
from apps.connections.services import connection_backend

from .scoring import EvidenceUnavailable


def backend_of(version, ctx):
    """The registry backend holding ``version``: the request's own when it is the candidate's."""
    model, candidate = version.model, ctx.request.model_version.model
    if model.backend == candidate.backend and model.connection_id == candidate.connection_id:
        return ctx.backend
    if model.connection is not None:
        return connection_backend(model.connection)
    return backend_registry.get_backend(model.backend)


def deployment_backend(ctx):
    """The backend the requested deployment runs on: its connection's (by id or name), else the model's."""
    wanted = (ctx.request.deployment or {}).get("connection")
    if not wanted:
        return ctx.backend
    try:
        found = Connection.objects.filter(pk=uuid.UUID(str(wanted))).first()
    except ValueError:
        found = Connection.objects.filter(name=str(wanted)).first()
    if found is None:
        raise EvidenceUnavailable(f"The deployment's connection {wanted} no longer exists.")
    if found.pk == ctx.request.model_version.model.connection_id:
        return ctx.backend
    return connection_backend(found)
