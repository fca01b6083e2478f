"""Endpoints: deploy, shift traffic, roll back, delete. Each finishes when
the endpoint is back in service; a deploy the cloud rolled back on its own
(guardrails whose alarm tripped) fails with the cloud's reason."""

from __future__ import annotations

from typing import Any

from apps.backends import registry as backend_registry
from apps.backends.base import (
    DEPLOY_TARGETS,
    Endpoints,
    EndpointSpec,
    EndpointVariant,
    Guardrails,
    JobState,
    JobStatus,
    ModelRef,
)

from ..models import RunKind
from .base import NAME, Operation

ROLLOUTS = ("all_at_once", "canary", "linear", "blue_green")
TIMINGS = ("canary_percent", "linear_step_percent", "bake_seconds", "termination_wait_seconds")


def _endpoint_errors(params: dict) -> dict:
    name = params.get("endpoint")
    if not isinstance(name, str) or not NAME.match(name):
        return {"endpoint": ["Required: letters, digits and '-', at most 63 characters."]}
    return {}


def _weights_errors(weights: Any) -> list[str]:
    if not isinstance(weights, dict) or not weights:
        return ["Must be an object of variant name: weight."]
    values = list(weights.values())
    if not all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 100 for w in values):
        return ["Each weight must be an integer from 0 to 100."]
    if sum(values) != 100:
        return [f"Weights must add up to 100 (they add up to {sum(values)})."]
    return []


class EndpointOperation(Operation):
    """Endpoint changes finish when the endpoint is back in service."""

    capability = Endpoints

    def poll(self, backend, job):
        endpoint = backend.get_endpoint(job.external_id)
        outputs = {"endpoint": endpoint.name, "weights": endpoint.weights}
        if endpoint.rolled_back:
            outputs |= {"rolled_back": True, "automatic": True}
            return JobStatus(state=JobState.FAILED, message=endpoint.message, outputs=outputs)
        if endpoint.state == "in_service":
            return JobStatus(state=JobState.SUCCEEDED, progress=100, outputs=outputs)
        if endpoint.state == "failed":
            return JobStatus(state=JobState.FAILED, message=endpoint.message or "The endpoint failed.", outputs=outputs)
        return JobStatus(state=JobState.RUNNING, progress=50, message=f"Endpoint {endpoint.state}", outputs=outputs)


class Deploy(EndpointOperation):
    kind = RunKind.DEPLOY

    def validate(self, params):
        errors = _endpoint_errors(params)
        variants = params.get("variants")
        if not isinstance(variants, list) or not variants:
            errors["variants"] = ["Give at least one variant."]
            return errors
        for index, variant in enumerate(variants):
            problems = []
            if not isinstance(variant, dict):
                errors[f"variants.{index}"] = ["Must be an object."]
                continue
            for key in ("name", "model_name", "model_version"):
                if not isinstance(variant.get(key), (str, int)) or not str(variant.get(key)).strip():
                    problems.append(f"'{key}' is required.")
            if "instance_type" not in variant and variant.get("target") not in DEPLOY_TARGETS:
                problems.append(f"Give 'instance_type', or 'target': one of {', '.join(DEPLOY_TARGETS)}.")
            elif "instance_type" in variant and not str(variant["instance_type"]).strip():
                problems.append("'instance_type' is required.")
            count = variant.get("instance_count", 1)
            if not isinstance(count, int) or not 1 <= count <= 100:
                problems.append("'instance_count' must be from 1 to 100.")
            if problems:
                errors[f"variants.{index}"] = problems
        weights = {str(v.get("name")): v.get("weight", 100 // len(variants)) for v in variants if isinstance(v, dict)}
        if len(variants) > 1 and (problems := _weights_errors(weights)):
            errors["weights"] = problems
        if params.get("rollout", "all_at_once") not in ROLLOUTS:
            errors["rollout"] = [f"One of {', '.join(ROLLOUTS)}."]
        for key in TIMINGS:
            value = params.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                errors[key] = ["A whole number, 0 or more."]
        if (problems := _guardrails_errors(params.get("guardrails"))) is not None:
            errors["guardrails"] = problems
        return errors

    def validate_for(self, params, *, backend_kind):
        supported = backend_registry.deploy_targets(backend_kind)
        errors = {}
        for index, variant in enumerate(params.get("variants") or []):
            wanted = variant.get("target") if isinstance(variant, dict) and "instance_type" not in variant else None
            if wanted and wanted not in supported:
                why = backend_registry.missing_target(backend_kind, wanted)
                errors[f"variants.{index}"] = [
                    f"{backend_registry.LABELS[backend_kind]} has no {wanted} hardware: choose {', '.join(supported)}."
                    + (f" {why}" if why else "")
                ]
        return errors

    def submit(self, backend, job):
        params = job.params
        variants = [
            EndpointVariant(
                name=str(v["name"]),
                model=ModelRef(name=str(v["model_name"]), version=str(v["model_version"])),
                instance_type=str(v["instance_type"])
                if "instance_type" in v
                else backend.instance_type_for(v["target"]),
                instance_count=int(v.get("instance_count", 1)),
                weight=int(v.get("weight", 100 // len(params["variants"]))),
            )
            for v in params["variants"]
        ]
        guardrails = params.get("guardrails")
        spec = EndpointSpec(
            name=params["endpoint"],
            variants=variants,
            rollout=params.get("rollout", "all_at_once"),
            canary_percent=int(params.get("canary_percent") or 10),
            tags=job.tags,
            linear_step_percent=params.get("linear_step_percent"),
            bake_seconds=params.get("bake_seconds"),
            termination_wait_seconds=params.get("termination_wait_seconds"),
            guardrails=Guardrails(**guardrails) if guardrails is not None else None,
        )
        return backend.deploy_endpoint(spec)


def _guardrails_errors(value: Any) -> list[str] | None:
    """What is wrong with a deploy's ``guardrails`` ({"max_error_rate", "max_p95_ms"}), None if nothing."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"max_error_rate", "max_p95_ms"}:
        return ["An object with max_error_rate and, optionally, max_p95_ms."]
    numbers = [v for k, v in value.items() if v is not None or k == "max_error_rate"]
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in numbers):
        return ["Thresholds are numbers, 0 or more."]
    return None


class Traffic(EndpointOperation):
    kind = RunKind.TRAFFIC

    def validate(self, params):
        errors = _endpoint_errors(params)
        if problems := _weights_errors(params.get("weights")):
            errors["weights"] = problems
        return errors

    def submit(self, backend, job):
        backend.update_traffic(job.params["endpoint"], dict(job.params["weights"]))
        return job.params["endpoint"]


class Rollback(EndpointOperation):
    kind = RunKind.ROLLBACK

    def validate(self, params):
        return _endpoint_errors(params)

    def submit(self, backend, job):
        backend.rollback_endpoint(job.params["endpoint"])
        return job.params["endpoint"]


class Undeploy(Operation):
    kind = RunKind.UNDEPLOY
    capability = Endpoints

    def validate(self, params):
        return _endpoint_errors(params)

    def submit(self, backend, job):
        backend.delete_endpoint(job.params["endpoint"])
        return job.params["endpoint"]

    def poll(self, backend, job):
        return JobStatus(state=JobState.SUCCEEDED, progress=100, outputs={"deleted": job.params["endpoint"]})
