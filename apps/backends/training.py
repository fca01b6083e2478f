"""What the portal can train: datasets, algorithms, hyperparameter checks and
the scikit-learn fit itself. Pure Python (no Django, no MLflow), so the web
process validates requests and the job process trains with the same code.

Hyperparameters are checked by scikit-learn's own parameter constraints, plus
upper bounds that keep one run from taking the machine down.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

# name -> (task, loader in sklearn.datasets)
BUILTIN_DATASETS: dict[str, tuple[str, str]] = {
    "iris": (CLASSIFICATION, "load_iris"),
    "wine": (CLASSIFICATION, "load_wine"),
    "breast_cancer": (CLASSIFICATION, "load_breast_cancer"),
    "digits": (CLASSIFICATION, "load_digits"),
    "diabetes": (REGRESSION, "load_diabetes"),
}
# Generated data: real training of any size, no download.
SYNTHETIC_DATASETS: dict[str, tuple[str, str]] = {
    "synthetic_classification": (CLASSIFICATION, "make_classification"),
    "synthetic_regression": (REGRESSION, "make_regression"),
}
SYNTHETIC_OPTIONS = {"n_samples": (10, 2_000_000), "n_features": (2, 500), "random_state": (0, 2**31 - 1)}
FILE_SUFFIXES = (".csv", ".parquet")

# algorithm -> {task: "module.Class"}
ALGORITHMS: dict[str, dict[str, str]] = {
    "logistic_regression": {CLASSIFICATION: "sklearn.linear_model.LogisticRegression"},
    "linear_regression": {REGRESSION: "sklearn.linear_model.LinearRegression"},
    "ridge": {REGRESSION: "sklearn.linear_model.Ridge", CLASSIFICATION: "sklearn.linear_model.RidgeClassifier"},
    "random_forest": {
        CLASSIFICATION: "sklearn.ensemble.RandomForestClassifier",
        REGRESSION: "sklearn.ensemble.RandomForestRegressor",
    },
    "gradient_boosting": {
        CLASSIFICATION: "sklearn.ensemble.GradientBoostingClassifier",
        REGRESSION: "sklearn.ensemble.GradientBoostingRegressor",
    },
    "hist_gradient_boosting": {
        CLASSIFICATION: "sklearn.ensemble.HistGradientBoostingClassifier",
        REGRESSION: "sklearn.ensemble.HistGradientBoostingRegressor",
    },
    "decision_tree": {
        CLASSIFICATION: "sklearn.tree.DecisionTreeClassifier",
        REGRESSION: "sklearn.tree.DecisionTreeRegressor",
    },
    "svm": {CLASSIFICATION: "sklearn.svm.SVC", REGRESSION: "sklearn.svm.SVR"},
    "knn": {
        CLASSIFICATION: "sklearn.neighbors.KNeighborsClassifier",
        REGRESSION: "sklearn.neighbors.KNeighborsRegressor",
    },
}

# Bounds on top of scikit-learn's own constraints: what one run may ask for.
UPPER_BOUNDS = {"n_estimators": 5000, "max_iter": 100_000, "max_depth": 1000, "n_neighbors": 10_000}
# Parameters the portal controls itself.
RESERVED = {"n_jobs", "verbose", "warm_start", "copy_X"}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class TrainingRequest:
    dataset: str
    algorithm: str
    task: str
    hyperparameters: dict[str, Any]
    model_name: str
    target_column: str | None
    dataset_options: dict[str, Any]


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


def dataset_names() -> list[str]:
    return [*BUILTIN_DATASETS, *SYNTHETIC_DATASETS]


def is_file_dataset(dataset: str) -> bool:
    return dataset.lower().endswith(FILE_SUFFIXES)


def resolve_data_path(dataset: str, data_root: Path) -> Path:
    """A CSV/Parquet path, relative to the data root or absolute below it."""
    root = data_root.resolve()
    path = (root / dataset).resolve()
    if not path.is_relative_to(root):
        raise ValueError("Data files must be inside the data folder (a relative path, no '..').")
    return path


def estimator_class(algorithm: str, task: str):
    module, _, name = ALGORITHMS[algorithm][task].rpartition(".")
    return getattr(importlib.import_module(module), name)


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


# --- used by the job process --------------------------------------------------


def load_dataset(request: TrainingRequest, *, data_root: Path):
    """Returns (X, y) as a pandas DataFrame and Series."""
    import pandas as pd
    from sklearn import datasets

    if request.dataset in BUILTIN_DATASETS:
        loader = getattr(datasets, BUILTIN_DATASETS[request.dataset][1])
        bunch = loader(as_frame=True)
        return bunch.data, bunch.target
    if request.dataset in SYNTHETIC_DATASETS:
        maker = getattr(datasets, SYNTHETIC_DATASETS[request.dataset][1])
        options = {"n_samples": 1000, "n_features": 20, "random_state": 0, **request.dataset_options}
        X, y = maker(**options)
        return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]), pd.Series(y, name="target")
    path = resolve_data_path(request.dataset, data_root)
    if not path.is_file():
        raise ValueError(f"File not found: {request.dataset}")
    frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    if request.target_column not in frame.columns:
        raise ValueError(
            f"Column {request.target_column!r} is not in {path.name} (columns: {', '.join(frame.columns)})."
        )
    y = frame.pop(request.target_column)
    return frame, y


def split(X, y, task: str):
    """The held-out fifth every backend scores on, the same for the same data (stratified for classes)."""
    from sklearn.model_selection import train_test_split

    stratify = y if task == CLASSIFICATION else None
    return train_test_split(X, y, test_size=0.2, random_state=42, stratify=stratify)


def fit_with_progress(estimator, X, y, report: Callable[[float], None], chunks: int = 10):
    """Ensembles grow in chunks (warm start) so progress is real, not guessed."""
    total = estimator.get_params().get("n_estimators")
    if total and "warm_start" in estimator.get_params() and total >= chunks:
        estimator.set_params(warm_start=True)
        for i in range(1, chunks + 1):
            estimator.set_params(n_estimators=max(1, total * i // chunks))
            estimator.fit(X, y)
            report(i / chunks)
        estimator.set_params(warm_start=False)
    else:
        estimator.fit(X, y)
        report(1.0)
    return estimator


def evaluate(estimator, X_test, y_test, task: str) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics

    predicted = estimator.predict(X_test)
    if task == REGRESSION:
        return {
            "r2": float(metrics.r2_score(y_test, predicted)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y_test, predicted))),
            "mae": float(metrics.mean_absolute_error(y_test, predicted)),
        }
    scores = {
        "accuracy": float(metrics.accuracy_score(y_test, predicted)),
        "f1_macro": float(metrics.f1_score(y_test, predicted, average="macro")),
    }
    if len(np.unique(y_test)) == 2 and hasattr(estimator, "predict_proba"):
        scores["roc_auc"] = float(metrics.roc_auc_score(y_test, estimator.predict_proba(X_test)[:, 1]))
    return scores


# --- hyperparameter search objectives ---------------------------------------------------

# What a search may optimise: the metrics ``evaluate`` reports for each task (roc_auc: binary only).
OBJECTIVES = {CLASSIFICATION: ("accuracy", "f1_macro", "roc_auc"), REGRESSION: ("r2", "rmse", "mae")}
OBJECTIVE_ALIASES = {"f1": "f1_macro", "auc": "roc_auc"}
LOWER_IS_BETTER = {"rmse", "mae"}
DIRECTIONS = ("maximize", "minimize")


def objective_for(task: str, objective: str | None) -> str:
    """The metric a search optimises: ``objective`` (aliases resolved), or the task's first."""
    objective = OBJECTIVE_ALIASES.get(objective or "", objective or "")
    return objective or OBJECTIVES[task][0]


def minimizes(objective: str, direction: str | None) -> bool:
    """Whether a lower ``objective`` is better: ``direction`` if given, else the metric's own."""
    return direction == "minimize" if direction else objective in LOWER_IS_BETTER
