"""What each kind of run asks of its backend.

The run engine (services.py) is the same for every kind: submit once with the
run's idempotency key, then poll until the backend says the work is over. An
operation says how a kind checks its params, submits, polls and cancels.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, ClassVar

from django.conf import settings

from apps.backends.base import (
    Backend,
    BackendError,
    EndpointSpec,
    EndpointVariant,
    JobState,
    JobStatus,
    ModelRef,
    ResourceSpec,
    TrainingSpec,
)
from apps.backends.training import validate_request

from .models import CANCELLABLE_KINDS, Run, RunKind

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")  # valid for SageMaker and Databricks endpoints
ROLLOUTS = ("all_at_once", "canary", "linear")


def run_tags(run: Run) -> dict[str, str]:
    """Cost-allocation tags the backend puts on everything it creates."""
    return {
        "team": run.team.slug,
        "run": str(run.pk),
        "project": str(run.params.get("project", "default")),
        "model": str(run.params.get("model_name", "")),
    }


def first_error(errors: dict, prefix: str = "") -> str:
    field, value = next(iter(errors.items()))
    if isinstance(value, dict):
        return first_error(value, f"{prefix}{field}.")
    return f"{prefix}{field}: {value[0]}"


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


class Operation:
    kind: ClassVar[str]

    @property
    def cancellable(self) -> bool:
        return self.kind in CANCELLABLE_KINDS

    def validate(self, params: dict) -> dict:
        """Errors per field; empty when the params are good."""
        raise NotImplementedError

    def submit(self, backend: Backend, run: Run) -> str:
        raise NotImplementedError

    def poll(self, backend: Backend, run: Run) -> JobStatus:
        raise NotImplementedError

    def cancel(self, backend: Backend, run: Run) -> None:
        raise BackendError(f"A {self.kind} run cannot be cancelled once submitted.", permanent=True)


class Train(Operation):
    kind = RunKind.TRAIN

    def validate(self, params):
        return validate_request(params, data_root=settings.DATA_ROOT)[1]

    def spec(self, run: Run) -> TrainingSpec:
        request, errors = validate_request(run.params, data_root=settings.DATA_ROOT)
        if errors:  # the data changed since the run was created (e.g. a file was removed)
            raise BackendError(first_error(errors), permanent=True)
        return TrainingSpec(
            key=run.idempotency_key,
            model_name=request.model_name,
            dataset=request.dataset,
            algorithm=request.algorithm,
            task=request.task,
            hyperparameters=request.hyperparameters,
            target_column=request.target_column,
            dataset_options=request.dataset_options,
            instance_type=run.params.get("instance_type"),
            tags=run_tags(run),
        )

    def submit(self, backend, run):
        return backend.submit_training(self.spec(run))

    def poll(self, backend, run):
        return backend.poll_training(run.external_id, log_cursor=run.log_cursor)

    def cancel(self, backend, run):
        backend.cancel_training(run.external_id)


class EndpointOperation(Operation):
    """Endpoint changes finish when the endpoint is back in service."""

    def poll(self, backend, run):
        endpoint = backend.get_endpoint(run.external_id)
        outputs = {"endpoint": endpoint.name, "weights": endpoint.weights}
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
            for key in ("name", "model_name", "model_version", "instance_type"):
                if not isinstance(variant.get(key), (str, int)) or not str(variant.get(key)).strip():
                    problems.append(f"'{key}' is required.")
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
        return errors

    def submit(self, backend, run):
        params = run.params
        variants = [
            EndpointVariant(
                name=str(v["name"]),
                model=ModelRef(name=str(v["model_name"]), version=str(v["model_version"])),
                instance_type=str(v["instance_type"]),
                instance_count=int(v.get("instance_count", 1)),
                weight=int(v.get("weight", 100 // len(params["variants"]))),
            )
            for v in params["variants"]
        ]
        spec = EndpointSpec(
            name=params["endpoint"],
            variants=variants,
            rollout=params.get("rollout", "all_at_once"),
            canary_percent=int(params.get("canary_percent", 10)),
            tags=run_tags(run),
        )
        return backend.deploy_endpoint(spec)


class Traffic(EndpointOperation):
    kind = RunKind.TRAFFIC

    def validate(self, params):
        errors = _endpoint_errors(params)
        if problems := _weights_errors(params.get("weights")):
            errors["weights"] = problems
        return errors

    def submit(self, backend, run):
        backend.update_traffic(run.params["endpoint"], dict(run.params["weights"]))
        return run.params["endpoint"]


class Rollback(EndpointOperation):
    kind = RunKind.ROLLBACK

    def validate(self, params):
        return _endpoint_errors(params)

    def submit(self, backend, run):
        backend.rollback_endpoint(run.params["endpoint"])
        return run.params["endpoint"]


class Undeploy(Operation):
    kind = RunKind.UNDEPLOY

    def validate(self, params):
        return _endpoint_errors(params)

    def submit(self, backend, run):
        backend.delete_endpoint(run.params["endpoint"])
        return run.params["endpoint"]

    def poll(self, backend, run):
        return JobStatus(state=JobState.SUCCEEDED, progress=100, outputs={"deleted": run.params["endpoint"]})


class Provision(Operation):
    kind = RunKind.PROVISION

    def validate(self, params):
        errors = {}
        if not isinstance(params.get("resource"), str) or not params.get("resource"):
            errors["resource"] = ["Required, e.g. 'workspace'."]
        name = params.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            errors["name"] = ["Required: letters, digits and '-', at most 63 characters."]
        if not isinstance(params.get("parameters", {}), dict):
            errors["parameters"] = ["Must be an object."]
        return errors

    def submit(self, backend, run):
        parameters = {"name": run.params["name"], **run.params.get("parameters", {})}
        spec = ResourceSpec(
            key=run.idempotency_key, kind=run.params["resource"], parameters=parameters, tags=run_tags(run)
        )
        return backend.provision(spec)

    def poll(self, backend, run):
        status = backend.poll_provision(run.external_id)
        if status.state is JobState.SUCCEEDED:
            return replace(status, outputs={**status.outputs, "resource_id": run.external_id})
        return status


class Teardown(Operation):
    kind = RunKind.TEARDOWN

    def validate(self, params):
        if not isinstance(params.get("resource_id"), str) or not params.get("resource_id"):
            return {"resource_id": ["Required: the resource_id a provision run returned."]}
        return {}

    def submit(self, backend, run):
        backend.teardown(run.params["resource_id"])
        return run.params["resource_id"]

    def poll(self, backend, run):
        return JobStatus(state=JobState.SUCCEEDED, progress=100, outputs={"torn_down": run.params["resource_id"]})


OPERATIONS: dict[str, Operation] = {
    op.kind: op for op in (Train(), Deploy(), Traffic(), Rollback(), Undeploy(), Provision(), Teardown())
}
