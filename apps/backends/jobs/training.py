"""What every backend trains with: the datasets, the algorithms and the
scikit-learn fit itself (load, split, fit with progress, evaluate), and the
metrics a search may optimise. Runs in the job (locally, on a Databricks
cluster, in SageMaker's scikit-learn image): no Django, no MLflow, nothing
from the portal. The portal's checks of a request are ``apps.backends.training``.
"""

from __future__ import annotations

import importlib
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
    # Generated here (``demo_loans``), labelled demo data: loan decisions with a
    # sensitive column (``sex``) for the approvals' bias check to show.
    "demo_loans": (CLASSIFICATION, "demo_loans"),
}
# Generated data: real training of any size, no download.
SYNTHETIC_DATASETS: dict[str, tuple[str, str]] = {
    "synthetic_classification": (CLASSIFICATION, "make_classification"),
    "synthetic_regression": (REGRESSION, "make_regression"),
}
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


@dataclass(frozen=True)
class TrainingRequest:
    dataset: str
    algorithm: str
    task: str
    hyperparameters: dict[str, Any]
    model_name: str
    target_column: str | None
    dataset_options: dict[str, Any]


def dataset_names() -> list[str]:
    return [*BUILTIN_DATASETS, *SYNTHETIC_DATASETS]


def is_file_dataset(dataset: str) -> bool:
    return dataset.lower().endswith(FILE_SUFFIXES)


def resolve_data_path(dataset: str, data_root: Path) -> Path:
    """A CSV/Parquet path, relative to the data root or absolute below it."""
    root = data_root.resolve()
    path = (root / dataset).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"Data files must be inside {root}.")
    return path


def estimator_class(algorithm: str, task: str):
    module, _, name = ALGORITHMS[algorithm][task].rpartition(".")
    return getattr(importlib.import_module(module), name)


def preload() -> None:
    """Import every estimator's module now (scikit-learn takes seconds to import): a
    Celery worker calls this before its pool forks, so no worker process pays for it
    on its first training request."""
    for paths in ALGORITHMS.values():
        for path in paths.values():
            importlib.import_module(path.rpartition(".")[0])


def load_dataset(request: TrainingRequest, *, data_root: Path):
    """Returns (X, y) as a pandas DataFrame and Series."""
    import pandas as pd
    from sklearn import datasets

    if request.dataset == "demo_loans":
        return demo_loans()
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


def demo_loans(n_samples: int = 2000, seed: int = 7):
    """DEMO DATA, generated: loan applications and whether they were approved.
    The historical decisions lean against one value of ``sex`` (as real
    lending data can), so a model trained on them inherits it and the
    approvals' bias check has something to show. Deterministic."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income_k": rng.gamma(4.0, 12.0, n_samples).round(1),
            "debt_ratio": rng.beta(2.0, 5.0, n_samples).round(3),
            "age": rng.integers(21, 70, n_samples),
            "years_employed": rng.integers(0, 30, n_samples),
            "credit_lines": rng.poisson(4, n_samples),
            "sex": rng.integers(0, 2, n_samples),
        }
    )
    score = (
        0.04 * frame["income_k"]
        - 6.0 * frame["debt_ratio"]
        + 0.05 * frame["years_employed"]
        - 0.6 * frame["sex"]
        + rng.normal(0.0, 0.8, n_samples)
    )
    return frame, pd.Series((score > score.median()).astype(int), name="approved")


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
