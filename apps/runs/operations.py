"""What each kind of run (or template step) asks of its backend.

The run engine is the same for every kind: submit once with the idempotency
key, then poll until the backend says the work is over. An operation says how
a kind checks its params, submits, polls and cancels. It works on a ``Job`` --
the part of a run step that the backend needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from django.conf import settings

from apps.backends import registry as backend_registry
from apps.backends.base import (
    DEPLOY_TARGETS,
    Backend,
    BackendError,
    BatchSpec,
    Endpoints,
    EndpointSpec,
    EndpointVariant,
    Jobs,
    JobState,
    JobStatus,
    ModelRef,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
)
from apps.backends.training import (
    DIRECTIONS,
    OBJECTIVES,
    dataset_names,
    is_file_dataset,
    objective_for,
    optional_text_errors,
    resolve_data_path,
    validate_request,
)

from .models import CANCELLABLE_KINDS, Run, RunKind

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")  # valid for SageMaker and Databricks endpoints
ROLLOUTS = ("all_at_once", "canary", "linear")


@dataclass(frozen=True)
class Job:
    """What an operation needs: the idempotency key, the inputs, where the
    backend job is and how far its log has been read, and the tags to put on
    everything it creates."""

    key: str
    params: dict
    external_id: str = ""
    log_cursor: int = 0
    tags: dict[str, str] = field(default_factory=dict)


def run_tags(run: Run, params: dict | None = None) -> dict[str, str]:
    """Cost-allocation tags the backend puts on everything it creates."""
    params = run.params if params is None else params
    return {
        "team": run.team.slug,
        "run": str(run.pk),
        "project": str(params.get("project") or run.params.get("project") or "default"),
        "model": str(params.get("model_name", "")),
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
    capability: ClassVar[type] = Jobs  # what the operation asks of a backend (apps.backends.base)

    @property
    def cancellable(self) -> bool:
        return self.kind in CANCELLABLE_KINDS

    def validate(self, params: dict) -> dict:
        """Errors per field; empty when the params are good."""
        raise NotImplementedError

    def validate_for(self, params: dict, *, backend_kind: str) -> dict:
        """What a backend of ``backend_kind`` cannot do of otherwise valid params
        (known without calling it), so a launch is refused before anything is made."""
        return {}

    def submit(self, backend: Backend, job: Job) -> str:
        raise NotImplementedError

    def poll(self, backend: Backend, job: Job) -> JobStatus:
        raise NotImplementedError

    def cancel(self, backend: Backend, job: Job) -> None:
        raise BackendError(f"A {self.kind} run cannot be cancelled once submitted.", permanent=True)


class Train(Operation):
    kind = RunKind.TRAIN

    def validate(self, params):
        return validate_request(params, data_root=settings.DATA_ROOT)[1]

    def spec(self, job: Job) -> TrainingSpec:
        request, errors = validate_request(job.params, data_root=settings.DATA_ROOT)
        if errors:  # the data changed since the run was created (e.g. a file was removed)
            raise BackendError(first_error(errors), permanent=True)
        return TrainingSpec(
            key=job.key,
            model_name=request.model_name,
            dataset=request.dataset,
            algorithm=request.algorithm,
            task=request.task,
            hyperparameters=request.hyperparameters,
            target_column=request.target_column,
            dataset_options=request.dataset_options,
            instance_type=job.params.get("instance_type"),
            tags=job.tags,
        )

    def submit(self, backend, job):
        return backend.submit_training(self.spec(job))

    def poll(self, backend, job):
        return backend.poll_training(job.external_id, log_cursor=job.log_cursor)

    def cancel(self, backend, job):
        backend.cancel_training(job.external_id)


SPACE_TYPES = ("int", "float", "categorical")
MAX_TRIALS = 100
TUNE_FIELDS = {"search_space", "max_trials", "objective", "direction"}


def _space_errors(space: Any) -> list[str]:
    """What is wrong with one hyperparameter's range ([] when it is good)."""
    if not isinstance(space, dict) or space.get("type") not in SPACE_TYPES:
        return [f"Give {{'type': one of {', '.join(SPACE_TYPES)}, ...}}."]
    if space["type"] == "categorical":
        values = space.get("values")
        return [] if isinstance(values, list) and values else ["'values' must be a non-empty list."]
    low, high = space.get("low"), space.get("high")
    number = int if space["type"] == "int" else (int, float)
    if not all(isinstance(v, number) and not isinstance(v, bool) for v in (low, high)) or low > high:
        return [f"'low' and 'high' must be {space['type']}s with low <= high."]
    if space.get("log") and low <= 0:
        return ["A log scale needs low > 0."]
    return []


def _corners(search_space: dict) -> list[dict]:
    """Hyperparameter sets at the edges of the space, for scikit-learn's own checks."""
    low = {n: s["values"][0] if s["type"] == "categorical" else s["low"] for n, s in search_space.items()}
    high = {n: s["values"][-1] if s["type"] == "categorical" else s["high"] for n, s in search_space.items()}
    every = [{n: v} for n, s in search_space.items() if s["type"] == "categorical" for v in s["values"]]
    return [low, high, *every]


class Tune(Train):
    """A hyperparameter search: trainings over a search space, the best registered.

    Params: those of a training (without ``hyperparameters``), plus
    ``search_space`` ({name: {"type": "int" | "float" | "categorical", "low",
    "high", "log", "values"}}), ``max_trials`` (1-100, default 10),
    ``objective`` (a metric of the task; default accuracy / r2) and
    ``direction`` ("maximize" | "minimize"; default the metric's own).
    Errors are per field, and per hyperparameter under ``search_space``.
    """

    kind = RunKind.TUNE

    def validate(self, params):
        space = params.get("search_space")
        base = {k: v for k, v in params.items() if k not in TUNE_FIELDS}
        request, errors = validate_request(base, data_root=settings.DATA_ROOT)
        if not isinstance(space, dict) or not space:
            errors["search_space"] = ["Give at least one hyperparameter and its range."]
        elif problems := {str(name): found for name, s in space.items() if (found := _space_errors(s))}:
            errors["search_space"] = problems
        elif "algorithm" not in errors and "dataset" not in errors and "task" not in errors:
            for corner in _corners(space):
                found = validate_request({**base, "hyperparameters": corner}, data_root=settings.DATA_ROOT)[1]
                if bad := found.get("hyperparameters"):  # scikit-learn refuses a value at an edge of a range
                    errors["search_space"] = {name: messages for name, messages in bad.items()}
                    break
        trials = params.get("max_trials", 10)
        if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
            errors["max_trials"] = [f"From 1 to {MAX_TRIALS}."]
        task = request.task if request else params.get("task")
        if task in OBJECTIVES:
            objective = params.get("objective") or ""
            if not isinstance(objective, str) or objective_for(task, objective) not in OBJECTIVES[task]:
                errors["objective"] = [f"A {task} metric: {', '.join(OBJECTIVES[task])}."]
        if params.get("direction", "") not in ("", *DIRECTIONS):
            errors["direction"] = [f"One of {', '.join(DIRECTIONS)}, or empty for the metric's own."]
        return errors

    def spec(self, job: Job) -> TuningSpec:
        base = {k: v for k, v in job.params.items() if k not in TUNE_FIELDS}
        request, errors = validate_request(base, data_root=settings.DATA_ROOT)
        if errors:
            raise BackendError(first_error(errors), permanent=True)
        return TuningSpec(
            key=job.key,
            model_name=request.model_name,
            dataset=request.dataset,
            algorithm=request.algorithm,
            task=request.task,
            search_space=job.params["search_space"],
            max_trials=int(job.params.get("max_trials", 10)),
            objective=objective_for(request.task, job.params.get("objective")),
            target_column=request.target_column,
            dataset_options=request.dataset_options,
            instance_type=job.params.get("instance_type"),
            tags=job.tags,
            direction=str(job.params.get("direction") or ""),
        )

    def submit(self, backend, job):
        return backend.submit_tuning(self.spec(job))

    def poll(self, backend, job):
        return backend.poll_tuning(job.external_id, log_cursor=job.log_cursor)

    def cancel(self, backend, job):
        backend.cancel_tuning(job.external_id)


SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _place_problem(path: str) -> str:
    """What is wrong with a dataset or output path on any backend: '..', a
    scheme or an absolute path that is no cloud storage. Never echoes a server path."""
    if ".." in path.replace("\\", "/").split("/"):
        return "No '..' in a path."
    if path.startswith(backend_registry.CLOUD_PREFIXES):
        return ""
    if SCHEME.match(path) or path.startswith(("/", "\\")):
        return (
            "A relative path below the data folder, or cloud storage a connection reads: "
            f"{', '.join(backend_registry.CLOUD_PREFIXES)}."
        )
    return ""


def _dataset_problem(dataset: str) -> str:
    if problem := _place_problem(dataset):
        return problem
    if dataset.startswith(backend_registry.CLOUD_PREFIXES):
        return ""  # rows in cloud storage: the cloud backend reads them (validate_for: the right one)
    if not is_file_dataset(dataset):
        return "" if dataset in dataset_names() else f"Unknown dataset {dataset!r}: {', '.join(dataset_names())}."
    try:
        path = resolve_data_path(dataset, settings.DATA_ROOT)
    except ValueError as exc:
        return str(exc)
    return "" if path.is_file() else f"File not found: {dataset}"


class Batch(Operation):
    """Batch inference: every row of a dataset scored by a registered model version."""

    kind = RunKind.BATCH

    def validate(self, params):
        errors = {}
        for key in ("model_name", "model_version", "dataset"):
            if not isinstance(params.get(key), (str, int)) or not str(params.get(key)).strip():
                errors[key] = ["Required."]
        if "dataset" not in errors and (problem := _dataset_problem(str(params["dataset"]))):
            errors["dataset"] = [problem]
        output = params.get("output") or ""
        if not isinstance(output, str):
            errors["output"] = ["A relative path below the data folder."]
        elif problem := _place_problem(output):
            errors["output"] = [problem]
        elif (
            output
            and not output.startswith(backend_registry.CLOUD_PREFIXES)
            and not output.lower().endswith((".csv", ".parquet"))
        ):
            errors["output"] = ["A .csv or .parquet file (or an s3:// prefix on SageMaker)."]
        errors.update(optional_text_errors(params))
        return errors

    def validate_for(self, params, *, backend_kind):
        """Cloud storage only on the backend that reads it: no s3:// on the local backend."""
        readable = backend_registry.data_prefixes(backend_kind)
        errors = {}
        for key in ("dataset", "output"):
            value = str(params.get(key) or "")
            prefix = next((p for p in backend_registry.CLOUD_PREFIXES if value.startswith(p)), None)
            if prefix and prefix not in readable:
                where = ", ".join(readable) or "files below its data folder"
                errors[key] = [f"{backend_registry.LABELS[backend_kind]} cannot use {prefix} paths: {where} only."]
        return errors

    def submit(self, backend, job):
        params = job.params
        spec = BatchSpec(
            key=job.key,
            model=ModelRef(name=str(params["model_name"]), version=str(params["model_version"])),
            dataset=str(params["dataset"]),
            target_column=params.get("target_column"),
            dataset_options=params.get("dataset_options") or {},
            output=params.get("output") or "",
            instance_type=params.get("instance_type"),
            tags=job.tags,
        )
        return backend.submit_batch(spec)

    def poll(self, backend, job):
        return backend.poll_batch(job.external_id, log_cursor=job.log_cursor)

    def cancel(self, backend, job):
        backend.cancel_batch(job.external_id)


class EndpointOperation(Operation):
    """Endpoint changes finish when the endpoint is back in service."""

    capability = Endpoints

    def poll(self, backend, job):
        endpoint = backend.get_endpoint(job.external_id)
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
        return errors

    def validate_for(self, params, *, backend_kind):
        supported = backend_registry.deploy_targets(backend_kind)
        errors = {}
        for index, variant in enumerate(params.get("variants") or []):
            wanted = variant.get("target") if isinstance(variant, dict) and "instance_type" not in variant else None
            if wanted and wanted not in supported:
                errors[f"variants.{index}"] = [
                    f"{backend_registry.LABELS[backend_kind]} has no {wanted} hardware: choose {', '.join(supported)}."
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
        spec = EndpointSpec(
            name=params["endpoint"],
            variants=variants,
            rollout=params.get("rollout", "all_at_once"),
            canary_percent=int(params.get("canary_percent", 10)),
            tags=job.tags,
        )
        return backend.deploy_endpoint(spec)


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

    def submit(self, backend, job):
        parameters = {"name": job.params["name"], **job.params.get("parameters", {})}
        spec = ResourceSpec(key=job.key, kind=job.params["resource"], parameters=parameters, tags=job.tags)
        return backend.provision(spec)

    def poll(self, backend, job):
        status = backend.poll_provision(job.external_id)
        if status.state is JobState.SUCCEEDED:
            return replace(status, outputs={**status.outputs, "resource_id": job.external_id})
        return status


class Teardown(Operation):
    kind = RunKind.TEARDOWN

    def validate(self, params):
        if not isinstance(params.get("resource_id"), str) or not params.get("resource_id"):
            return {"resource_id": ["Required: the resource_id a provision run returned."]}
        return {}

    def submit(self, backend, job):
        backend.teardown(job.params["resource_id"])
        return job.params["resource_id"]

    def poll(self, backend, job):
        return JobStatus(state=JobState.SUCCEEDED, progress=100, outputs={"torn_down": job.params["resource_id"]})


OPERATIONS: dict[str, Operation] = {
    op.kind: op
    for op in (Train(), Tune(), Batch(), Deploy(), Traffic(), Rollback(), Undeploy(), Provision(), Teardown())
}
