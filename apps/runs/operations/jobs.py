"""Jobs: training, hyperparameter search, batch scoring, provisioning."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from django.conf import settings

from apps.backends import registry as backend_registry
from apps.backends.base import (
    BackendError,
    BatchSpec,
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

from ..models import RunKind
from .base import NAME, Job, Operation, first_error


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
