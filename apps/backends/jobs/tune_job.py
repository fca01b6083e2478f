"""The hyperparameter search job: ``python -m apps.backends.jobs.tune_job JOB_DIR``.

A job like training (train_job.py: same files, cancel and resume rules).
Draws ``max_trials`` hyperparameter sets from the search space with
scikit-learn's ParameterSampler (seeded, so a restarted job draws the same
ones), trains and scores each on the same split, logs each trial as a nested
MLflow run, then logs and registers the best model.
"""

from __future__ import annotations

import sys

import mlflow

from apps.backends.jobs.train_job import (
    JobFiles,
    existing_version,
    load,
    log,
    log_and_register,
    main,
    outputs_of,
    start_mlflow_run,
)
from apps.backends.jobs.training import estimator_class, evaluate, minimizes, objective_for, split


def distributions(search_space: dict) -> dict:
    from scipy import stats

    out = {}
    for name, space in search_space.items():
        if space["type"] == "categorical":
            out[name] = list(space["values"])
        elif space["type"] == "int":
            out[name] = stats.randint(space["low"], space["high"] + 1)
        elif space.get("log"):
            out[name] = stats.loguniform(space["low"], space["high"])
        else:
            out[name] = stats.uniform(space["low"], space["high"] - space["low"])
    return out


def objective_of(spec: dict) -> str:
    return objective_for(spec["task"], spec.get("objective"))


def tune(files: JobFiles) -> dict:
    from sklearn.model_selection import ParameterSampler

    spec = files.spec()
    request, X, y = load(files, spec, {})
    client, experiment, run_id = start_mlflow_run(files, spec)
    version = existing_version(client, request.model_name, run_id)
    if version is not None:
        log(f"{request.model_name} version {version.version} already registered from this search")
        client.set_terminated(run_id, "FINISHED")
        return {**outputs_of(client, experiment, run_id, request.model_name, version), **_best_of(client, run_id, spec)}

    objective = objective_of(spec)
    sign = -1 if minimizes(objective, spec.get("direction")) else 1
    X_train, X_test, y_train, y_test = split(X, y, request.task)
    trials = list(ParameterSampler(distributions(spec["search_space"]), n_iter=spec["max_trials"], random_state=42))
    best = None
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({"dataset": request.dataset, "algorithm": request.algorithm, "trials": len(trials)})
        for index, params in enumerate(trials, start=1):
            params = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
            estimator = estimator_class(request.algorithm, request.task)(**params)
            estimator.fit(X_train, y_train)
            scores = evaluate(estimator, X_test, y_test, request.task)
            if objective not in scores:
                raise ValueError(f"Objective {objective!r} is not a metric of {request.task}: {', '.join(scores)}.")
            with mlflow.start_run(run_name=f"trial-{index}", nested=True):
                mlflow.log_params(params)
                mlflow.log_metrics(scores)
            log(f"Trial {index}/{len(trials)}: {objective}={scores[objective]:.4f} {params}")
            files.write_status("running", 5 + 80 * index / len(trials), f"Trial {index} of {len(trials)}")
            if best is None or sign * scores[objective] > sign * best[1][objective]:
                best = (params, scores, estimator)
        params, scores, estimator = best
        mlflow.log_params({f"best.{k}": v for k, v in params.items()})
        mlflow.log_metrics(scores)
        log(f"Best: {objective}={scores[objective]:.4f} with {params}")
        version = log_and_register(files, spec, estimator, X_train, request.model_name, run_id)
    return {
        **outputs_of(client, experiment, run_id, request.model_name, version),
        "best_params": params,
        "objective": objective,
        "direction": "minimize" if sign < 0 else "maximize",
        "best_score": scores[objective],
        "trials": len(trials),
    }


def _best_of(client, run_id: str, spec: dict) -> dict:
    """The outputs of a search that already registered its best model (a restarted job)."""
    import json

    data = client.get_run(run_id).data
    objective = objective_of(spec)
    best = {}
    for name, value in data.params.items():
        if name.startswith("best."):
            try:
                best[name.removeprefix("best.")] = json.loads(value)  # MLflow keeps params as strings
            except ValueError:
                best[name.removeprefix("best.")] = value
    return {
        "best_params": best,
        "objective": objective,
        "direction": "minimize" if minimizes(objective, spec.get("direction")) else "maximize",
        "best_score": data.metrics.get(objective),
        "trials": int(data.params.get("trials", 0)),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], work=tune))
