"""What the portal accepts as a training request, checked in the web process
before anything runs: datasets, algorithms, hyperparameters and dataset
options. Hyperparameters are checked by scikit-learn's own parameter
constraints, plus upper bounds that keep one run from taking the machine down.

What a job trains with (the datasets, estimators, split, metrics, search
objectives) is ``apps.backends.jobs.training``, the code sent with the jobs to
the clouds; the names the portal uses from it are importable from here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .jobs.training import (
    ALGORITHMS,
    BUILTIN_DATASETS,
    CLASSIFICATION,
    DIRECTIONS,
    OBJECTIVES,
    REGRESSION,
    SYNTHETIC_DATASETS,
    TASKS,
    TrainingRequest,
    dataset_names,
    estimator_class,
    is_file_dataset,
    minimizes,
    objective_for,
    resolve_data_path,
)

__all__ = [  # the portal's names from the jobs' training code
    "ALGORITHMS",
    "CLASSIFICATION",
    "DIRECTIONS",
    "OBJECTIVES",
    "REGRESSION",
    "TASKS",
    "TrainingRequest",
    "check_hyperparameters",
    "dataset_names",
    "is_file_dataset",
    "minimizes",
    "objective_for",
    "resolve_data_path",
    "validate_request",
]

# Generated data's options: what one run may ask for.
SYNTHETIC_OPTIONS = {"n_samples": (10, 2_000_000), "n_features": (2, 500), "random_state": (0, 2**31 - 1)}
# Bounds on top of scikit-learn's own constraints: what one run may ask for.
UPPER_BOUNDS = {"n_estimators": 5000, "max_iter": 100_000, "max_depth": 1000, "n_neighbors": 10_000}
# Parameters the portal controls itself.
RESERVED = {"n_jobs", "verbose", "warm_start", "copy_X"}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


# Optional text fields every job takes: a name each, never an object or a number.
OPTIONAL_TEXT = {"target_column": 200, "instance_type": 100}
INSTANCE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def optional_text_errors(params: dict) -> dict[str, list[str]]:
    """``target_column`` and ``instance_type``: absent, empty or a short name."""
    errors = {}
    for name, longest in OPTIONAL_TEXT.items():
        value = params.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > longest:
            errors[name] = [f"A name of at most {longest} characters, or empty."]
        elif name == "instance_type" and not INSTANCE_TYPE.match(value):
            errors[name] = ["Letters, digits, '.', '_', ':' or '-', e.g. ml.m5.large."]
    return errors


def check_hyperparameters(cls, hyperparameters: dict[str, Any]) -> dict[str, list[str]]:
    """Per-parameter errors, from scikit-learn's own validation."""
    errors: dict[str, list[str]] = {}
    valid = cls().get_params()
    for name, value in hyperparameters.items():
        if name in RESERVED:
            errors[name] = [f"'{name}' is set by the portal and cannot be chosen."]
        elif name not in valid:
            errors[name] = [
                f"Unknown hyperparameter for {cls.__name__}. Valid: {', '.join(sorted(set(valid) - RESERVED))}."
            ]
        elif isinstance(value, (int, float)) and name in UPPER_BOUNDS and value > UPPER_BOUNDS[name]:
            errors[name] = [f"Must be at most {UPPER_BOUNDS[name]}."]
        else:
            try:
                cls(**{name: value})._validate_params()
            except (ValueError, TypeError) as exc:
                errors[name] = [str(exc)]
    return errors


def validate_request(params: dict[str, Any], *, data_root: Path) -> tuple[TrainingRequest | None, dict]:
    """Check a training request; returns (request, {}) or (None, errors per field)."""
    errors: dict[str, Any] = {}
    if not isinstance(params, dict):
        return None, {"params": ["Must be an object."]}
    dataset = params.get("dataset")
    algorithm = params.get("algorithm")
    task = params.get("task")
    hyperparameters = params.get("hyperparameters") or {}
    model_name = params.get("model_name")
    target_column = params.get("target_column") or None
    options = params.get("dataset_options") or {}

    unknown = set(params) - {
        "dataset",
        "algorithm",
        "task",
        "hyperparameters",
        "model_name",
        "target_column",
        "dataset_options",
        "instance_type",
    }
    for key in sorted(unknown):
        errors[key] = ["Unknown field."]
    errors.update(optional_text_errors(params))
    if "target_column" in errors:
        target_column = None

    if not isinstance(model_name, str) or not MODEL_NAME.match(model_name):
        errors["model_name"] = ["Required: letters, digits, '.', '_' or '-', at most 100 characters."]

    if not isinstance(dataset, str) or not dataset:
        errors["dataset"] = ["Required."]
    elif dataset in BUILTIN_DATASETS or dataset in SYNTHETIC_DATASETS:
        known_task = (BUILTIN_DATASETS.get(dataset) or SYNTHETIC_DATASETS[dataset])[0]
        if task and task != known_task:
            errors["task"] = [f"'{dataset}' is a {known_task} dataset."]
        task = known_task
    elif is_file_dataset(dataset):
        try:
            path = resolve_data_path(dataset, data_root)
        except ValueError as exc:
            errors["dataset"] = [str(exc)]
        else:
            if not path.is_file():
                errors["dataset"] = [f"File not found: {dataset}"]
        if not target_column and "target_column" not in errors:
            errors["target_column"] = ["Required for a CSV or Parquet dataset."]
        if task not in TASKS:
            errors["task"] = [f"Required for a file dataset: one of {', '.join(TASKS)}."]
    else:
        errors["dataset"] = [
            f"Unknown dataset {dataset!r}. Choose one of {', '.join(dataset_names())}, or a .csv/.parquet file."
        ]

    if not isinstance(options, dict):
        errors["dataset_options"] = ["Must be an object."]
    elif options:
        option_errors = _check_dataset_options(dataset, options)
        if option_errors:
            errors["dataset_options"] = option_errors

    if not isinstance(task, str | None):
        errors["task"] = [f"Must be one of {', '.join(TASKS)}."]
        task = None
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        errors["algorithm"] = [f"Unknown algorithm {algorithm!r}. Choose one of {', '.join(ALGORITHMS)}."]
    elif task in TASKS and task not in ALGORITHMS[algorithm]:
        errors["algorithm"] = [f"'{algorithm}' does not do {task}."]

    if not isinstance(hyperparameters, dict):
        errors["hyperparameters"] = ["Must be an object of name: value."]
    elif "algorithm" not in errors and task in TASKS:
        hp_errors = check_hyperparameters(estimator_class(algorithm, task), hyperparameters)
        if hp_errors:
            errors["hyperparameters"] = hp_errors

    if errors:
        return None, errors
    return TrainingRequest(dataset, algorithm, task, hyperparameters, model_name, target_column, options), {}


def _check_dataset_options(dataset: str, options: dict) -> dict[str, list[str]]:
    if dataset not in SYNTHETIC_DATASETS:
        return {"__all__": ["Only synthetic datasets take options."]}
    errors = {}
    for name, value in options.items():
        if name not in SYNTHETIC_OPTIONS:
            errors[name] = [f"Unknown option. Valid: {', '.join(SYNTHETIC_OPTIONS)}."]
            continue
        low, high = SYNTHETIC_OPTIONS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = [f"Must be an integer from {low} to {high}."]
    return errors
