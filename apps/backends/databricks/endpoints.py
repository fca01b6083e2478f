"""Real-time endpoints: Model Serving endpoints serving Unity Catalog versions.

An endpoint variant is a served entity (``workload_type`` from the variant's
``instance_type``, checked against the SDK's ``ServingModelWorkloadType``;
``workload_size`` from its instance count), and weights are the endpoint's
``traffic_config`` routes. A canary adds the new entity beside the one taking
most traffic; an all-at-once deploy keeps the previous one at 0% (scaled to
zero) so a rollback has somewhere to go. Served entity names are given in
full Unity Catalog names (the facade resolves bare ones).
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import serving

from ..base import (
    BackendError,
    EndpointDetails,
    EndpointSpec,
    EndpointStatus,
    EndpointSummary,
    EndpointVariant,
    ModelRef,
    NotReady,
    Upstream,
)
from .client import errors

PAYLOAD_KEYS = ("dataframe_records", "dataframe_split", "inputs", "instances")
DEFAULT_WORKLOADS = {"cpu": "CPU", "gpu": "GPU_SMALL"}
SERVING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # endpoint and served entity names in a URL path


def workload_types() -> list[str]:
    """The workload types Model Serving takes, as the SDK knows them."""
    return [member.value for member in serving.ServingModelWorkloadType]


def workload_size(instance_count: int) -> str:
    """Serving scales by concurrency, not instances: Small (4), Medium (16), Large (64)."""
    if instance_count <= 1:
        return "Small"
    return "Medium" if instance_count <= 4 else "Large"


def instance_type_for(target: str) -> str:
    if target not in DEFAULT_WORKLOADS:
        raise BackendError(
            f"Databricks Model Serving has no {target} workload type (it offers {', '.join(workload_types())}).",
            permanent=True,
        )
    return DEFAULT_WORKLOADS[target]


def entity_input(variant: EndpointVariant, entity_name: str) -> serving.ServedEntityInput:
    """The served entity of a variant; ``entity_name`` is its model's full Unity Catalog name."""
    try:
        workload = serving.ServingModelWorkloadType(variant.instance_type)
    except ValueError:
        raise BackendError(
            f"Unknown Databricks workload type {variant.instance_type!r}. Valid: {', '.join(workload_types())}.",
            permanent=True,
        ) from None
    return serving.ServedEntityInput(
        name=variant.name,
        entity_name=entity_name,
        entity_version=str(variant.model.version),
        workload_type=workload,
        workload_size=workload_size(variant.instance_count),
        scale_to_zero_enabled=False,
    )


def deploy(client: WorkspaceClient, spec: EndpointSpec, new_entities: list[serving.ServedEntityInput]) -> str:
    existing = get_detailed(client, spec.name, missing_ok=True)
    if existing is None:
        weights = normalise({v.name: v.weight for v in spec.variants})
        config = serving.EndpointCoreConfigInput(
            name=spec.name, served_entities=new_entities, traffic_config=traffic(weights)
        )
        tags = [serving.EndpointTag(key=k, value=v) for k, v in sorted(spec.tags.items())]
        # ResourceAlreadyExists: a redelivered deploy, the endpoint is ours
        with errors(f"create endpoint {spec.name}"), suppress(dberrors.ResourceAlreadyExists):
            client.serving_endpoints.create(name=spec.name, config=config, tags=tags)
        return spec.name

    entities, weights = planned(spec, new_entities, existing.config)
    wanted = shape(entities, weights)
    for config in (existing.pending_config, existing.config):
        if config and shape(config.served_entities or [], weights_of(config)) == wanted:
            return spec.name  # already deployed (or deploying): a redelivered task changes nothing
    if existing.pending_config is not None:
        raise NotReady(f"Endpoint {spec.name} is still being updated; the deploy waits for it.")
    put_config(client, spec.name, entities, weights)
    return spec.name


def planned(
    spec: EndpointSpec, new_entities: list[serving.ServedEntityInput], current
) -> tuple[list[serving.ServedEntityInput], dict[str, int]]:
    """The served entities and routes a deploy of ``spec`` makes of the ``current`` config."""
    new_names = {e.name for e in new_entities}
    previous = primary(current, exclude=new_names)
    entities = list(new_entities)
    if spec.rollout in ("canary", "linear") and previous is not None:
        canary = max(1, min(99, spec.canary_percent))
        new_weights = normalise({v.name: v.weight for v in spec.variants}, total=canary)
        weights = {**new_weights, previous.name: 100 - canary}
        entities.append(as_input(previous))
    else:
        weights = normalise({v.name: v.weight for v in spec.variants})
        if previous is not None:  # kept at 0% (scaled to zero) so a rollback has somewhere to go
            weights[previous.name] = 0
            entities.append(as_input(previous, scale_to_zero=True))
    return entities, weights


def shape(entities, weights: dict[str, int]) -> set[tuple]:
    """What a config serves, comparable between inputs and outputs. Compared whole, not as a
    subset: a promotion (or a rollback's release) serves a subset of the rollout's config, and
    must still scale the baseline to zero rather than be taken for a redelivered deploy."""
    return {
        (
            e.name,
            e.entity_name,
            str(e.entity_version),
            getattr(e.workload_type, "value", e.workload_type),
            e.workload_size,
            bool(e.scale_to_zero_enabled),
            weights.get(e.name, 0),
        )
        for e in entities
    }


def get_endpoint(client: WorkspaceClient, name: str) -> EndpointStatus:
    return status_of(get_detailed(client, name), name)


ENDED_BADLY = (serving.EndpointStateConfigUpdate.UPDATE_FAILED, serving.EndpointStateConfigUpdate.UPDATE_CANCELED)


def state_name(state: serving.EndpointState | None) -> str:
    """The portal's state of an endpoint from Model Serving's two flags (ready, config update)."""
    state = state or serving.EndpointState()
    ready = state.ready == serving.EndpointStateReady.READY
    if state.config_update in ENDED_BADLY:
        return "in_service" if ready else "failed"  # a ready endpoint still serves its previous configuration
    if state.config_update == serving.EndpointStateConfigUpdate.IN_PROGRESS:
        return "updating" if ready else "creating"
    return "in_service" if ready else "failed"


def status_of(endpoint: serving.ServingEndpointDetailed, name: str) -> EndpointStatus:
    status = state_name(endpoint.state)
    update = (endpoint.state or serving.EndpointState()).config_update
    messages = [
        e.state.deployment_state_message
        for config in (endpoint.pending_config, endpoint.config)
        if config
        for e in config.served_entities or []
        if e.state and e.state.deployment_state_message
    ]
    message = messages[0] if messages else ""
    if update in ENDED_BADLY:
        message = message or f"The last configuration update ended {update.value}."
        if status == "in_service":
            message = f"Update {update.value}; still serving the previous configuration. {message}".strip()
    return EndpointStatus(name=name, state=status, weights=weights_of(endpoint.config), message=message)


def update_traffic(client: WorkspaceClient, name: str, weights: dict[str, int]) -> None:
    endpoint = get_detailed(client, name)
    if endpoint.pending_config is not None:
        raise NotReady(f"Endpoint {name} is still being updated; the change waits for it.")
    if endpoint.config is None:
        raise NotReady(f"Endpoint {name} is not ready yet.")
    entities = endpoint.config.served_entities or []
    names = {e.name for e in entities}
    unknown = set(weights) - names
    if unknown:
        raise BackendError(
            f"Unknown variant(s) {', '.join(sorted(unknown))} on endpoint {name}; "
            f"it serves {', '.join(sorted(names))}.",
            permanent=True,
        )
    if any(w < 0 for w in weights.values()) or sum(weights.values()) != 100:
        raise BackendError("Traffic weights must be non-negative and add up to 100.", permanent=True)
    full = {n: weights.get(n, 0) for n in names}
    if weights_of(endpoint.config) == full:
        return
    put_config(client, name, [as_input(e) for e in entities], full)


def rollback(client: WorkspaceClient, name: str) -> None:
    """Route all traffic back to the served entity deployed before the newest one, and drop the newest."""
    endpoint = get_detailed(client, name)
    if endpoint.pending_config is not None:
        raise NotReady(f"Endpoint {name} is still being updated; the change waits for it.")
    entities = sorted(
        (endpoint.config.served_entities or []) if endpoint.config else [],
        key=lambda e: (e.creation_timestamp or 0, e.name or ""),
    )
    if len(entities) < 2:
        raise BackendError(f"Endpoint {name} has no previous model version to roll back to.", permanent=True)
    previous = entities[-2]
    put_config(client, name, [as_input(previous)], {previous.name: 100})


def delete(client: WorkspaceClient, name: str) -> None:
    with errors(f"delete endpoint {name}"), suppress(dberrors.NotFound):  # already gone
        client.serving_endpoints.delete(name)


def invoke(client: WorkspaceClient, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    keys = [k for k in PAYLOAD_KEYS if k in payload]
    if len(keys) != 1 or set(payload) - set(PAYLOAD_KEYS):
        raise BackendError(f"The payload needs exactly one of: {', '.join(PAYLOAD_KEYS)}.", permanent=True)
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        value = serving.DataframeSplitInput.from_dict(value)
    with errors(f"invoke endpoint {name}"):
        response = client.serving_endpoints.query(name, **{key: value})
    return {"predictions": response.predictions, "served_model": response.served_model_name or ""}


def invocation_target(host: str, token: str, name: str, variant: str | None = None) -> Upstream:
    """Model Serving's scoring URL: a served entity's own (``/served-models/<name>/invocations``,
    which bypasses the endpoint's traffic config) when a variant is asked for."""
    if not SERVING_NAME.match(name) or (variant and not SERVING_NAME.match(variant)):
        raise BackendError(f"Invalid serving endpoint or served model name {name!r}/{variant!r}.", permanent=True)
    path = f"/serving-endpoints/{name}" + (f"/served-models/{variant}" if variant else "") + "/invocations"
    return Upstream(
        url=host.rstrip("/") + path,
        headers={"Authorization": f"Bearer {token}"},
        ttl=300.0,
        request_id_field="client_request_id",  # kept in the inference table: the gateway's requests are known
    )


# --- the endpoint mirror (apps/deployments): every serving endpoint, the portal's or not ----------

# Serving scales by concurrency; a variant's instance count reads it back (the inverse of workload_size).
WORKLOAD_COUNTS = {"Small": 1, "Medium": 4, "Large": 16}


def list_endpoints(client: WorkspaceClient) -> list[EndpointSummary]:
    """``GET /api/2.0/serving-endpoints``: each endpoint's state and last update (every config
    or traffic change updates it), so the mirror reads the details of changed ones only."""
    with errors("list serving endpoints"):
        listed = list(client.serving_endpoints.list())
    return [
        EndpointSummary(
            name=endpoint.name or "",
            state=state_name(endpoint.state),
            fingerprint=f"{endpoint.state.as_dict() if endpoint.state else {}}@{endpoint.last_updated_timestamp or ''}",
        )
        for endpoint in listed
    ]


def endpoint_details(client: WorkspaceClient, name: str) -> EndpointDetails:
    """The served entities (the new configuration's while the first one is being made)."""
    endpoint = get_detailed(client, name)
    status = status_of(endpoint, name)
    config = endpoint.config or endpoint.pending_config
    weights = weights_of(config)
    variants = [
        EndpointVariant(
            name=e.name or "",
            model=ModelRef(e.entity_name or "", str(e.entity_version or "")),
            instance_type=e.workload_type.value if e.workload_type else "",
            instance_count=WORKLOAD_COUNTS.get(e.workload_size or "", 1),
            weight=int(weights.get(e.name, 0)),
        )
        for e in (config.served_entities or [] if config else [])
    ]
    tags = {t.key: t.value or "" for t in endpoint.tags or []}
    return EndpointDetails(name=name, state=status.state, variants=variants, tags=tags, message=status.message)


# --- helpers ----------------------------------------------------------------------------


def get_detailed(
    client: WorkspaceClient, name: str, *, missing_ok: bool = False
) -> serving.ServingEndpointDetailed | None:
    with errors(f"read endpoint {name}"):
        try:
            return client.serving_endpoints.get(name)
        except dberrors.NotFound:
            if missing_ok:
                return None
            raise


def put_config(
    client: WorkspaceClient, name: str, entities: list[serving.ServedEntityInput], weights: dict[str, int]
) -> None:
    with errors(f"update endpoint {name}"):
        client.serving_endpoints.update_config(name, served_entities=entities, traffic_config=traffic(weights))


def traffic(weights: dict[str, int]) -> serving.TrafficConfig:
    return serving.TrafficConfig(
        routes=[serving.Route(served_entity_name=name, traffic_percentage=int(pct)) for name, pct in weights.items()]
    )


def weights_of(config) -> dict[str, int]:
    if config is None or config.traffic_config is None:
        return {}
    return {
        (r.served_entity_name or r.served_model_name): r.traffic_percentage for r in config.traffic_config.routes or []
    }


def normalise(weights: dict[str, int], total: int = 100) -> dict[str, int]:
    """Scale weights to add up to ``total`` (largest remainder)."""
    raw_total = sum(max(0, w) for w in weights.values())
    if raw_total <= 0:
        weights = {name: 1 for name in weights}
        raw_total = len(weights)
    exact = {name: max(0, w) * total / raw_total for name, w in weights.items()}
    result = {name: int(value) for name, value in exact.items()}
    leftover = total - sum(result.values())
    for name in sorted(exact, key=lambda n: exact[n] - result[n], reverse=True)[:leftover]:
        result[name] += 1
    return result


def primary(config, *, exclude: set[str]) -> serving.ServedEntityOutput | None:
    """The served entity taking most traffic (newest on a tie), not among ``exclude``."""
    if config is None:
        return None
    weights = weights_of(config)
    candidates = [e for e in config.served_entities or [] if e.name not in exclude]
    if not candidates:
        return None
    return max(candidates, key=lambda e: (weights.get(e.name, 0), e.creation_timestamp or 0))


def as_input(entity: serving.ServedEntityOutput, *, scale_to_zero: bool | None = None) -> serving.ServedEntityInput:
    return serving.ServedEntityInput(
        name=entity.name,
        entity_name=entity.entity_name,
        entity_version=entity.entity_version,
        workload_type=entity.workload_type,
        workload_size=entity.workload_size,
        scale_to_zero_enabled=entity.scale_to_zero_enabled if scale_to_zero is None else scale_to_zero,
    )
