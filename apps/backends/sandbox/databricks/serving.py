"""Part of the Databricks STAND-IN (not Databricks): Model Serving endpoints.

Create, list, get, ``PUT .../config``, delete, and
``POST /serving-endpoints/{name}/invocations`` (and ``.../served-models/{served
model}/invocations`` for one served entity), answered by the real model:
the served entity names a Unity Catalog model version whose ``source`` is an
MLflow model URI, loaded with ``mlflow.pyfunc.load_model``; traffic is split
between served entities by the routes' percentages. Config changes take a few
reads (``endpoint_polls`` GETs or lists, standing for the minutes Model Serving
takes) to become ready. An endpoint whose config has an ``auto_capture_config``
logs every invocation to its inference table (``.inference_tables``).
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from typing import Any

from databricks.sdk.service import serving

from . import inference_tables
from .router import ApiError, invalid, not_found, route
from .state import USER, now_ms

WORKLOAD_SIZES = {"Small", "Medium", "Large"}
MODEL_FAILED = (  # MLflow's scoring server's words for a model that raised, which Model Serving passes on
    "Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe "
    "is compatible with the model for inference."
)
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class ServingApi(inference_tables.InferenceTables):
    """Serving endpoints. Mixed into ``DatabricksStandIn``: uses its state,
    ``endpoint_polls`` and the catalog's model versions."""

    def _endpoint(self, name: str) -> dict:
        endpoint = self.state["endpoints"].get(name)
        if endpoint is None:
            raise not_found(f"Endpoint with name '{name}' does not exist.")
        return endpoint

    def _check_config(
        self, config_json: dict, previous: list[dict] | None, previous_capture: dict | None, endpoint: str
    ) -> dict:
        """Validate an EndpointCoreConfigInput and return the stored config."""
        config = serving.EndpointCoreConfigInput.from_dict(config_json)
        raw_entities = config_json.get("served_entities") or []
        if not raw_entities:
            raise invalid("The endpoint config must have at least one served entity.")
        workload_types = {t.value for t in serving.ServingModelWorkloadType}
        names = set()
        entities = []
        for raw, entity in zip(raw_entities, config.served_entities, strict=True):
            if raw.get("workload_type", "CPU") not in workload_types:
                raise invalid(
                    f"Invalid workload type {raw.get('workload_type')!r}. Valid: {', '.join(sorted(workload_types))}."
                )
            if entity.workload_size not in WORKLOAD_SIZES:
                raise invalid(f"Invalid workload size {entity.workload_size!r}. Valid: Small, Medium, Large.")
            if not entity.entity_name or not entity.entity_version:
                raise invalid("A served entity needs entity_name and entity_version.")
            version = self._version(entity.entity_name, entity.entity_version)
            if version["status"] != "READY":
                raise invalid(f"Model version {entity.entity_name}/{entity.entity_version} is not READY.")
            name = entity.name or f"{entity.entity_name.split('.')[-1]}-{entity.entity_version}"
            if name in names:
                raise invalid(f"Served entity names must be unique: {name!r}.")
            names.add(name)
            old = next((e for e in previous or [] if e["name"] == name), None)
            same = old and (old["entity_name"], old["entity_version"]) == (entity.entity_name, entity.entity_version)
            entities.append(
                {
                    "name": name,
                    "entity_name": entity.entity_name,
                    "entity_version": entity.entity_version,
                    "workload_type": raw.get("workload_type", "CPU"),
                    "workload_size": entity.workload_size,
                    "scale_to_zero_enabled": bool(entity.scale_to_zero_enabled),
                    "creation_timestamp": old["creation_timestamp"] if same else now_ms(),
                }
            )
        routes = config.traffic_config.routes if config.traffic_config and config.traffic_config.routes else None
        if routes is None:
            if len(entities) > 1:
                raise invalid("traffic_config is required when there is more than one served entity.")
            routes_out = [{"served_entity_name": entities[0]["name"], "traffic_percentage": 100}]
        else:
            routes_out = []
            for route in routes:
                target = route.served_entity_name or route.served_model_name
                if target not in names:
                    raise invalid(f"Route references unknown served entity {target!r}.")
                if not 0 <= route.traffic_percentage <= 100:
                    raise invalid("traffic_percentage must be between 0 and 100.")
                routes_out.append({"served_entity_name": target, "traffic_percentage": route.traffic_percentage})
            if sum(r["traffic_percentage"] for r in routes_out) != 100:
                raise invalid("The traffic percentages of the routes must add up to 100.")
        capture = inference_tables.capture_config(config_json.get("auto_capture_config"), previous_capture, endpoint)
        if capture and capture["enabled"]:  # the table exists from then on, empty until the first request
            self.state.setdefault("inference_tables", {}).setdefault(inference_tables.payload_table(capture), [])
        return {"served_entities": entities, "routes": routes_out, "auto_capture": capture}

    @route("POST", r"^/api/2\.0/serving-endpoints$")
    def _endpoint_create(self, payload, **_):
        name = payload.get("name") or ""
        if not ENDPOINT_NAME.match(name):
            raise invalid(
                "Endpoint name must be 1-63 characters: letters, digits, '-' or '_', starting with a letter or digit."
            )
        if name in self.state["endpoints"]:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"Endpoint with name '{name}' already exists.")
        config = self._check_config(payload.get("config") or {}, None, None, name)
        tags = [serving.EndpointTag.from_dict(t).as_dict() for t in payload.get("tags") or []]
        self.state["endpoints"][name] = {
            "name": name,
            "id": uuid.uuid4().hex,
            "created": now_ms(),
            "updated": now_ms(),
            "tags": tags,
            "config": None,
            "config_version": 0,
            "pending": config,
            "pending_polls": self.endpoint_polls,
            "pending_start": now_ms(),
        }
        return self._endpoint_json(self.state["endpoints"][name])

    def _advance_endpoint(self, endpoint: dict) -> None:
        if endpoint["pending"] is None:
            return
        endpoint["pending_polls"] -= 1
        if endpoint["pending_polls"] <= 0:
            endpoint["config"] = endpoint["pending"]
            endpoint["config_version"] += 1
            endpoint["pending"] = None
            endpoint["updated"] = now_ms()

    def _config_json(self, config: dict, deployment: str) -> dict:
        entities = [
            serving.ServedEntityOutput(
                name=e["name"],
                entity_name=e["entity_name"],
                entity_version=e["entity_version"],
                workload_type=serving.ServingModelWorkloadType(e["workload_type"]),
                workload_size=e["workload_size"],
                scale_to_zero_enabled=e["scale_to_zero_enabled"],
                creation_timestamp=e["creation_timestamp"],
                creator=USER,
                state=serving.ServedModelState(
                    deployment=serving.ServedModelStateDeployment(deployment),
                    deployment_state_message="" if deployment == "DEPLOYMENT_READY" else "Creating the served entity",
                ),
            ).as_dict()
            for e in config["served_entities"]
        ]
        traffic = serving.TrafficConfig(routes=[serving.Route.from_dict(r) for r in config["routes"]]).as_dict()
        body = {"served_entities": entities, "traffic_config": traffic}
        if config.get("auto_capture"):
            body["auto_capture_config"] = inference_tables.config_json(config["auto_capture"])
        return body

    def _endpoint_json(self, endpoint: dict) -> dict:
        ready = endpoint["config"] is not None
        updating = endpoint["pending"] is not None
        body: dict[str, Any] = {
            "name": endpoint["name"],
            "id": endpoint["id"],
            "creator": USER,
            "creation_timestamp": endpoint["created"],
            "last_updated_timestamp": endpoint["updated"],
            "tags": endpoint["tags"],
            "state": serving.EndpointState(
                ready=serving.EndpointStateReady.READY if ready else serving.EndpointStateReady.NOT_READY,
                config_update=serving.EndpointStateConfigUpdate.IN_PROGRESS
                if updating
                else serving.EndpointStateConfigUpdate.NOT_UPDATING,
            ).as_dict(),
        }
        if ready:
            body["config"] = {
                **self._config_json(endpoint["config"], "DEPLOYMENT_READY"),
                "config_version": endpoint["config_version"],
            }
        if updating:
            body["pending_config"] = {
                **self._config_json(endpoint["pending"], "DEPLOYMENT_CREATING"),
                "config_version": endpoint["config_version"] + 1,
                "start_time": endpoint["pending_start"],
            }
        return serving.ServingEndpointDetailed.from_dict(body).as_dict()

    @route("GET", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)$")
    def _endpoint_get(self, name, **_):
        endpoint = self._endpoint(name)
        self._advance_endpoint(endpoint)
        return self._endpoint_json(endpoint)

    @route("GET", r"^/api/2\.0/serving-endpoints$")
    def _endpoint_list(self, **_):
        """As Model Serving lists endpoints: each one's state, tags and a summary of its
        served entities (names and versions; workload and traffic only in a GET)."""
        for endpoint in self.state["endpoints"].values():
            self._advance_endpoint(endpoint)
        return {"endpoints": [self._endpoint_summary(e) for e in self.state["endpoints"].values()]}

    def _endpoint_summary(self, endpoint: dict) -> dict:
        detailed = self._endpoint_json(endpoint)
        config = endpoint["config"] or endpoint["pending"]
        summary = serving.ServingEndpoint(
            name=endpoint["name"],
            id=endpoint["id"],
            creator=USER,
            creation_timestamp=endpoint["created"],
            last_updated_timestamp=endpoint["updated"],
            state=serving.EndpointState.from_dict(detailed["state"]),
            tags=[serving.EndpointTag.from_dict(t) for t in endpoint["tags"]],
            config=serving.EndpointCoreConfigSummary(
                served_entities=[
                    serving.ServedEntitySpec(
                        name=e["name"], entity_name=e["entity_name"], entity_version=e["entity_version"]
                    )
                    for e in config["served_entities"]
                ]
            ),
        )
        return summary.as_dict()

    @route("PUT", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)/config$")
    def _endpoint_update_config(self, name, payload, **_):
        endpoint = self._endpoint(name)
        if endpoint["pending"] is not None:
            raise ApiError(
                409,
                "RESOURCE_CONFLICT",
                f"Endpoint '{name}' is currently being updated. Please wait for the update to finish.",
            )
        current = endpoint["config"]["served_entities"] if endpoint["config"] else None
        capture = (endpoint["config"] or {}).get("auto_capture")
        endpoint["pending"] = self._check_config(payload, current, capture, name)
        endpoint["pending_polls"] = self.endpoint_polls
        endpoint["pending_start"] = now_ms()
        return self._endpoint_json(endpoint)

    @route("DELETE", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)$")
    def _endpoint_delete(self, name, **_):
        self._endpoint(name)
        del self.state["endpoints"][name]
        return {}

    @route("POST", r"^/serving-endpoints/(?P<name>[^/]+)/invocations$")
    def _invocations(self, name, payload, **_):
        return self._score(name, payload)

    @route("POST", r"^/serving-endpoints/(?P<name>[^/]+)/served-models/(?P<served>[^/]+)/invocations$")
    def _served_model_invocations(self, name, served, payload, **_):
        """One served entity, bypassing the traffic config (as Model Serving does)."""
        return self._score(name, payload, served=served)

    def _score(self, name, payload, served=None):
        endpoint = self._endpoint(name)
        if endpoint["config"] is None:
            raise ApiError(400, "INVALID_STATE", f"Endpoint '{name}' is not ready yet.")
        config = endpoint["config"]
        if served is not None:
            if not any(e["name"] == served for e in config["served_entities"]):
                raise not_found(f"Served model '{served}' does not exist in endpoint '{name}'.")
            chosen = served
        else:
            routes = [r for r in config["routes"] if r["traffic_percentage"] > 0]
            weights = [r["traffic_percentage"] for r in routes]
            chosen = random.choices(routes, weights=weights)[0]["served_entity_name"]
        entity = next(e for e in config["served_entities"] if e["name"] == chosen)
        client_request_id = payload.pop("client_request_id", None) if isinstance(payload, dict) else None
        started = time.monotonic()
        try:
            answer = self._predict(entity, payload)
        except ApiError as error:
            status, _, body = error.response()
            self._log_inference(endpoint, entity, payload, client_request_id, status, body, started)
            raise
        self._log_inference(endpoint, entity, payload, client_request_id, 200, answer, started)
        return "application/json", answer, {"served-model-name": chosen}

    def _predict(self, entity: dict, payload) -> bytes:
        source = self._version(entity["entity_name"], entity["entity_version"])["source"]
        model = self._load_model(source)
        frame = _input_frame(payload, model)
        try:
            predictions = model.predict(frame)
        except Exception as exc:  # the model's own error: MLflow's scoring server (which serving runs) says 400
            raise ApiError(400, "BAD_REQUEST", f"{MODEL_FAILED} Error '{exc}'") from None
        return json.dumps({"predictions": _jsonable(predictions)}).encode()

    def _load_model(self, source: str):
        model = self._models.get(source)
        if model is None:
            import mlflow.pyfunc

            try:
                model = mlflow.pyfunc.load_model(source)
            except Exception as exc:
                raise ApiError(500, "INTERNAL_ERROR", f"Could not load model from {source}: {exc}") from None
            self._models[source] = model
        return model


def _input_frame(payload: dict, model):
    """The rows to score, read as Model Serving reads them (MLflow's scoring server, the model's schema)."""
    from apps.backends.jobs.payloads import PayloadError, payload_frame

    try:
        return payload_frame(payload, schema=model.metadata.get_input_schema())
    except PayloadError as exc:
        raise invalid(str(exc)) from None


def _jsonable(predictions):
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions
