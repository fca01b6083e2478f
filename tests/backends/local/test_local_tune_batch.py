"""Hyperparameter search and batch inference on the local backend: real
scikit-learn in a real detached subprocess, a real MLflow server (no Celery
here: the backend alone; the worker path is in tests/contract)."""

import pandas as pd
import psutil
import pytest
from mlflow import MlflowClient

from apps.backends.base import BackendError, BatchSpec, JobState, ModelRef, TuningSpec
from apps.backends.local.backend import LocalBackend
from tests.conftest import wait_until

pytestmark = pytest.mark.worker

SPACE = {
    "n_estimators": {"type": "int", "low": 5, "high": 20},
    "max_depth": {"type": "int", "low": 2, "high": 4},
    "criterion": {"type": "categorical", "values": ["gini", "entropy"]},
}


@pytest.fixture
def backend(mlflow_server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return LocalBackend(jobs_dir=tmp_path / "jobs", tracking_uri=mlflow_server, data_root=data)


def tuning(key, **changes) -> TuningSpec:
    base = {
        "key": key,
        "model_name": f"m-{key}",
        "dataset": "iris",
        "algorithm": "random_forest",
        "task": "classification",
        "search_space": SPACE,
        "max_trials": 3,
        "tags": {"team": "alpha"},
    }
    return TuningSpec(**{**base, **changes})


def finished(backend, key, timeout=120):
    return wait_until(
        lambda: (status := backend.poll_tuning(key)).state.is_terminal and status, timeout, message=f"job {key}"
    )


def job_process(backend, key):
    pid, _ = (backend.jobs_dir / key / "pid").read_text().split()
    return psutil.Process(int(pid))


def versions_of(mlflow_server, name):
    return MlflowClient(mlflow_server).search_model_versions(f"name = '{name}'")


def test_a_search_logs_each_trial_as_a_nested_run_and_registers_the_best(backend, mlflow_server):
    key = backend.submit_tuning(tuning("tune-ok"))
    status = finished(backend, key)
    assert status.state is JobState.SUCCEEDED, status.message
    out = status.outputs
    assert status.model == ModelRef(name="m-tune-ok", version="1")
    assert out["model_uri"] == "models:/m-tune-ok/1"
    assert (out["objective"], out["direction"], out["trials"]) == ("accuracy", "maximize", 3)
    assert set(out["best_params"]) == set(SPACE)
    assert 5 <= out["best_params"]["n_estimators"] <= 20 and out["best_params"]["criterion"] in {"gini", "entropy"}
    assert 0.5 < out["best_score"] <= 1.0

    client = MlflowClient(mlflow_server)
    parent = client.get_run(out["mlflow_run_id"])
    trials = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert len(trials) == 3
    assert max(t.data.metrics["accuracy"] for t in trials) == out["best_score"]
    [version] = versions_of(mlflow_server, "m-tune-ok")
    assert version.run_id == out["mlflow_run_id"]


def test_a_lower_is_better_objective_is_minimised(backend, mlflow_server):
    spec = tuning(
        "tune-rmse",
        dataset="diabetes",
        algorithm="ridge",
        task="regression",
        search_space={"alpha": {"type": "float", "low": 0.001, "high": 100.0, "log": True}},
        objective="rmse",
    )
    status = finished(backend, backend.submit_tuning(spec))
    assert status.state is JobState.SUCCEEDED, status.message
    assert (status.outputs["objective"], status.outputs["direction"]) == ("rmse", "minimize")
    client = MlflowClient(mlflow_server)
    parent = client.get_run(status.outputs["mlflow_run_id"])
    trials = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert status.outputs["best_score"] == min(t.data.metrics["rmse"] for t in trials)


def test_a_redelivered_submit_starts_no_second_search(backend, mlflow_server):
    key = backend.submit_tuning(tuning("tune-twice"))
    process = job_process(backend, key)
    assert backend.submit_tuning(tuning("tune-twice")) == key
    assert job_process(backend, key).pid == process.pid  # no second process
    assert finished(backend, key).state is JobState.SUCCEEDED
    backend.submit_tuning(tuning("tune-twice"))  # redelivered after success
    assert job_process(backend, key).pid == process.pid
    assert backend.poll_tuning(key).state is JobState.SUCCEEDED
    assert len(versions_of(mlflow_server, "m-tune-twice")) == 1


def test_cancel_kills_the_tuning_subprocess(backend, mlflow_server):
    slow = tuning(
        "tune-cancel",
        dataset="synthetic_classification",
        dataset_options={"n_samples": 40000, "n_features": 20},
        algorithm="gradient_boosting",
        search_space={"n_estimators": {"type": "int", "low": 300, "high": 400}},
        max_trials=5,
    )
    key = backend.submit_tuning(slow)
    wait_until(lambda: backend.poll_tuning(key).progress >= 5, 60, message="the search to start")
    process = job_process(backend, key)
    backend.cancel_tuning(key)
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    status = backend.poll_tuning(key)
    assert status.state is JobState.CANCELLED
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("atrium-alpha")
    [search] = client.search_runs([experiment.experiment_id], filter_string="tags.`atrium.run_key` = 'tune-cancel'")
    assert search.info.status == "KILLED"
    assert versions_of(mlflow_server, "m-tune-cancel") == []
    backend.submit_tuning(slow)  # a redelivered submit does not bring a cancelled search back
    assert backend.poll_tuning(key).state is JobState.CANCELLED


@pytest.fixture
def iris_version(backend):
    """A registered version to score, from a real (small) search."""
    status = finished(backend, backend.submit_tuning(tuning("tune-for-batch", max_trials=1)))
    assert status.state is JobState.SUCCEEDED, status.message
    return status.model


def test_batch_scores_every_row_to_csv_and_parquet(backend, iris_version):
    from sklearn.datasets import load_iris

    labelled = load_iris(as_frame=True).frame  # the features and a "target" column
    labelled.to_csv(backend.data_root / "flowers.csv", index=False)

    csv = backend.submit_batch(BatchSpec(key="batch-csv", model=iris_version, dataset="iris"))
    parquet = backend.submit_batch(
        BatchSpec(
            key="batch-parquet",
            model=iris_version,
            dataset="flowers.csv",
            target_column="target",
            output="scored/flowers.parquet",
        )
    )
    for key in (csv, parquet):
        status = wait_until(lambda k=key: (s := backend.poll_batch(k)).state.is_terminal and s, 120, message=key)
        assert status.state is JobState.SUCCEEDED, status.message
        assert status.outputs["rows"] == 150

    done = backend.poll_batch(csv).outputs
    assert done["output"] == str(backend.data_root.resolve() / "predictions" / "batch-csv.csv")
    scored = pd.read_csv(done["output"])
    assert list(scored.columns) == [*load_iris(as_frame=True).data.columns, "prediction"]
    assert (scored["prediction"] == load_iris().target).mean() > 0.9  # a real model's predictions

    done = backend.poll_batch(parquet).outputs
    assert (done["output"], done["format"]) == (str(backend.data_root.resolve() / "scored/flowers.parquet"), "parquet")
    scored = pd.read_parquet(done["output"])
    assert len(scored) == 150 and "target" not in scored.columns and "prediction" in scored.columns


def test_batch_failures_are_readable_and_write_nothing(backend, iris_version):
    for key, changes, reason in (
        ("batch-no-version", {"model": ModelRef(iris_version.name, "99")}, "99"),
        ("batch-escape", {"output": "../outside.csv"}, "below the data folder"),
        ("batch-s3", {"output": "s3://bucket/out/"}, "not to s3://bucket/out/"),
    ):
        submitted = backend.submit_batch(BatchSpec(**{"key": key, "model": iris_version, "dataset": "iris", **changes}))
        status = wait_until(lambda k=submitted: (s := backend.poll_batch(k)).state.is_terminal and s, 60, message=key)
        assert status.state is JobState.FAILED and reason in status.message, (key, status.message)
    assert not (backend.data_root / "predictions").exists()


def test_gpu_and_inferentia_are_not_local_targets(backend):
    assert backend.instance_type_for("cpu") == "local-cpu"
    for target in ("gpu", "inferentia"):
        with pytest.raises(BackendError) as caught:
            backend.instance_type_for(target)
        assert caught.value.permanent and "CPU" in caught.value.message
