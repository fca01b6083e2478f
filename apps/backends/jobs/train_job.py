"""The training job: ``python -m apps.backends.jobs.train_job JOB_DIR`` (the
local backend starts it; on Databricks, ``cluster_job.py`` runs ``train`` and
``main`` below on the cluster).

Locally it runs in its own process group, so the Celery worker that started it is free at
once and a cancel can kill it. It reads ``spec.json`` from JOB_DIR, prints its
log to stdout (the backend sends that to ``log.txt``) and keeps ``status.json``
current. It is safe to start twice for the same spec: the MLflow run is found
by its ``atrium.run_key`` tag and resumed, and a model version already
registered from that run is reused, never registered again.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from contextlib import suppress
from pathlib import Path

import psutil

from apps.backends.jobs.training import (
    TrainingRequest,
    estimator_class,
    evaluate,
    fit_with_progress,
    load_dataset,
    split,
)

RUN_KEY_TAG = "atrium.run_key"
_current = {}  # the MLflow run being written, so a cancel can mark it KILLED


class JobFiles:
    def __init__(self, job_dir: Path):
        self.dir = job_dir

    def spec(self) -> dict:
        return json.loads((self.dir / "spec.json").read_text())

    def write_status(self, state: str, progress: float, message: str = "", outputs: dict | None = None):
        now = time.time()
        status = {
            "state": state,
            "progress": round(progress, 1),
            "message": message,
            "outputs": outputs or {},
            "updated": now,
            # timings for the cost report: when this process started, and when it ended
            "started": psutil.Process().create_time(),
            "finished": now if state in {"succeeded", "failed", "cancelled"} else None,
        }
        partial = self.dir / "status.json.tmp"
        partial.write_text(json.dumps(status))
        partial.replace(self.dir / "status.json")  # atomic: a poll never reads half a file


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def find_or_create_mlflow_run(client, experiment_id: str, key: str, tags: dict) -> str:
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'", max_results=1)
    if found:
        log(f"Resuming MLflow run {found[0].info.run_id}")
        return found[0].info.run_id
    run = client.create_run(experiment_id, tags={RUN_KEY_TAG: key, **{f"atrium.{k}": v for k, v in tags.items()}})
    log(f"Created MLflow run {run.info.run_id}")
    return run.info.run_id


def existing_version(client, model_name: str, run_id: str):
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    return versions[0] if versions else None


def load(files: JobFiles, spec: dict, hyperparameters: dict) -> tuple[TrainingRequest, object, object]:
    request = TrainingRequest(
        dataset=spec["dataset"],
        algorithm=spec["algorithm"],
        task=spec["task"],
        hyperparameters=hyperparameters,
        model_name=spec["model_name"],
        target_column=spec.get("target_column"),
        dataset_options=spec.get("dataset_options") or {},
    )
    files.write_status("running", 2, "Loading data")
    log(f"Loading dataset {request.dataset}")
    X, y = load_dataset(request, data_root=Path(spec["data_root"]))
    log(f"Loaded {X.shape[0]} rows x {X.shape[1]} features")
    return request, X, y


def start_mlflow_run(files: JobFiles, spec: dict):
    """The job's MLflow run, found again by its key if this job ran before."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(spec["tracking_uri"])
    client = MlflowClient()
    experiment = mlflow.set_experiment(spec["experiment"])
    run_id = find_or_create_mlflow_run(client, experiment.experiment_id, spec["key"], spec.get("tags", {}))
    _current.update(client=client, run_id=run_id)
    files.write_status("running", 5, "Training", outputs={"mlflow_run_id": run_id})
    return client, experiment, run_id


def log_and_register(files: JobFiles, spec: dict, estimator, X_train, model_name: str, run_id: str):
    """Log the fitted estimator to the active MLflow run and register it."""
    import mlflow
    import sklearn
    import skops
    import skops.io

    files.write_status("running", 90, "Logging the model", outputs={"mlflow_run_id": run_id})
    info = mlflow.sklearn.log_model(
        estimator,
        name="model",
        input_example=X_train.head(5),
        # skops (no pickle) format; the only types to trust are those of the
        # estimator this process just trained, never a file from elsewhere.
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
        # Known requirements: skips MLflow's slow inference in a subprocess.
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
    )
    files.write_status("running", 95, "Registering the model", outputs={"mlflow_run_id": run_id})
    version = mlflow.register_model(info.model_uri, model_name, tags={RUN_KEY_TAG: spec["key"]})
    log(f"Registered {model_name} version {version.version}")
    return version


def outputs_of(client, experiment, run_id: str, model_name: str, version) -> dict:
    return {
        "mlflow_run_id": run_id,
        "experiment_id": experiment.experiment_id,
        "model_name": model_name,
        "model_version": str(version.version),
        "model_uri": f"models:/{model_name}/{version.version}",
        "metrics": client.get_run(run_id).data.metrics,
    }


def train(files: JobFiles) -> dict:
    import mlflow

    spec = files.spec()
    request, X, y = load(files, spec, spec["hyperparameters"])
    client, experiment, run_id = start_mlflow_run(files, spec)

    version = existing_version(client, request.model_name, run_id)
    if version is None:
        X_train, X_test, y_train, y_test = split(X, y, request.task)
        estimator = estimator_class(request.algorithm, request.task)(**request.hyperparameters)
        with mlflow.start_run(run_id=run_id):
            mlflow.log_params({"dataset": request.dataset, "algorithm": request.algorithm, **request.hyperparameters})
            log(f"Fitting {type(estimator).__name__} on {len(X_train)} rows")

            def report(fraction: float):
                files.write_status("running", 5 + 80 * fraction, "Training", outputs={"mlflow_run_id": run_id})
                log(f"Training {fraction:.0%}")

            fit_with_progress(estimator, X_train, y_train, report)
            scores = evaluate(estimator, X_test, y_test, request.task)
            mlflow.log_metrics(scores)
            log("Metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
            version = log_and_register(files, spec, estimator, X_train, request.model_name, run_id)
    else:
        log(f"{request.model_name} version {version.version} already registered from this run")
        client.set_terminated(run_id, "FINISHED")
    return outputs_of(client, experiment, run_id, request.model_name, version)


def main(job_dir: str, work=None) -> int:
    """Run ``work(files)`` (training unless told otherwise) as a job: its
    outputs, or a readable failure, go to status.json; SIGTERM cancels."""
    work = work or train
    files = JobFiles(Path(job_dir))
    warnings.filterwarnings("ignore", category=UserWarning)  # keep the run log readable

    def on_term(signum, frame):
        files.write_status("cancelled", 0, "Cancelled")
        if _current:
            with suppress(Exception):  # best effort: the process is going away anyway
                _current["client"].set_terminated(_current["run_id"], "KILLED")
        log("Cancelled")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        outputs = work(files)
    except Exception as exc:  # the job's last word: a readable reason, not a traceback
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
        log(f"Failed: {message}")
        files.write_status("failed", 0, message)
        return 1
    files.write_status("succeeded", 100, "Succeeded", outputs=outputs)
    log("Succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
