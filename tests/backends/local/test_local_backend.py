"""The local backend against a real MLflow server, with real training in a
real subprocess (no Celery here: the backend alone)."""

import os
import signal
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from apps.backends.base import BackendError, JobState, ModelRef, TrainingSpec
from apps.backends.local.backend import LocalBackend
from tests.conftest import wait_until

pytestmark = pytest.mark.worker


@pytest.fixture
def backend(mlflow_server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return LocalBackend(jobs_dir=tmp_path / "jobs", tracking_uri=mlflow_server, data_root=data)


def spec(key, **changes):
    base = {
        "key": key,
        "model_name": f"m-{key}",
        "dataset": "iris",
        "algorithm": "logistic_regression",
        "task": "classification",
        "hyperparameters": {"max_iter": 300},
        "tags": {"team": "alpha"},
    }
    return TrainingSpec(**{**base, **changes})


SLOW = {
    "dataset": "synthetic_classification",
    "algorithm": "gradient_boosting",
    "dataset_options": {"n_samples": 60000, "n_features": 20},
    "hyperparameters": {"n_estimators": 400},
}


def poll_until(backend, key, predicate, timeout=120):
    logs, cursor = [], 0

    def check():
        nonlocal cursor
        status = backend.poll_training(key, log_cursor=cursor)
        logs.extend(status.logs)
        cursor = status.log_cursor
        return status if predicate(status) else None

    status = wait_until(check, timeout, message=f"job {key}")
    return status, logs


def job_process(backend, key):
    pid, _ = (backend.jobs_dir / key / "pid").read_text().split()
    return psutil.Process(int(pid))


def versions_of(mlflow_server, name):
    return MlflowClient(mlflow_server).search_model_versions(f"name = '{name}'")


def runs_with_key(mlflow_server, key):
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("atrium-alpha")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`atrium.run_key` = '{key}'")


def test_trains_logs_and_registers_a_real_model(backend, mlflow_server):
    key = backend.submit_training(spec("atr-ok"))
    status, logs = poll_until(backend, key, lambda s: s.state.is_terminal)
    assert status.state is JobState.SUCCEEDED, status.message
    assert status.progress == 100
    assert any("Registered m-atr-ok version 1" in line for line in logs)
    assert status.model == ModelRef("m-atr-ok", "1")  # typed, as every backend reports it
    assert "model_version" not in status.outputs and "metrics" not in status.outputs
    version = MlflowClient(mlflow_server).get_model_version("m-atr-ok", status.model.version)
    assert version.run_id == status.outputs["mlflow_run_id"]
    metrics = MlflowClient(mlflow_server).get_run(version.run_id).data.metrics
    assert metrics["accuracy"] > 0.8 and metrics == status.metrics


def test_submitting_twice_creates_one_job_one_run_one_version(backend, mlflow_server):
    first = backend.submit_training(spec("atr-twice"))
    process = job_process(backend, first)
    assert backend.submit_training(spec("atr-twice")) == first
    assert job_process(backend, first).pid == process.pid  # no second process
    status, _ = poll_until(backend, first, lambda s: s.state.is_terminal)
    assert status.state is JobState.SUCCEEDED
    backend.submit_training(spec("atr-twice"))  # redelivered after success
    assert backend.poll_training(first).state is JobState.SUCCEEDED
    assert len(versions_of(mlflow_server, "m-atr-twice")) == 1
    assert len(runs_with_key(mlflow_server, "atr-twice")) == 1


def test_a_killed_job_resumes_its_mlflow_run_without_a_second_version(backend, mlflow_server):
    changes = {**SLOW, "hyperparameters": {"n_estimators": 60}, "dataset_options": {"n_samples": 20000}}
    key = backend.submit_training(spec("atr-killed", **changes))
    poll_until(backend, key, lambda s: s.outputs.get("mlflow_run_id") and s.progress > 5, timeout=60)
    os.killpg(job_process(backend, key).pid, signal.SIGKILL)  # the machine died mid-run
    status, _ = poll_until(backend, key, lambda s: s.state.is_terminal, timeout=30)
    assert status.state is JobState.FAILED
    assert "exited unexpectedly" in status.message

    backend.submit_training(spec("atr-killed", **changes))  # what a redelivered submit does
    status, logs = poll_until(backend, key, lambda s: s.state.is_terminal)
    assert status.state is JobState.SUCCEEDED, status.message
    assert any("Resuming MLflow run" in line for line in logs)
    assert len(runs_with_key(mlflow_server, "atr-killed")) == 1
    assert len(versions_of(mlflow_server, "m-atr-killed")) == 1


def test_cancel_kills_the_subprocess(backend, mlflow_server):
    key = backend.submit_training(spec("atr-cancel", **SLOW))
    poll_until(backend, key, lambda s: s.progress > 5 and s.state is JobState.RUNNING, timeout=60)
    process = job_process(backend, key)
    backend.cancel_training(key)
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    status = backend.poll_training(key)
    assert status.state is JobState.CANCELLED
    [mlflow_run] = runs_with_key(mlflow_server, "atr-cancel")
    assert mlflow_run.info.status == "KILLED"
    assert versions_of(mlflow_server, "m-atr-cancel") == []


def test_a_missing_column_fails_with_a_readable_reason_and_no_version(backend, mlflow_server):
    (backend.data_root / "sales.csv").write_text("a,b\n1,2\n3,4\n")
    key = backend.submit_training(
        spec(
            "atr-nocol",
            dataset="sales.csv",
            target_column="price",
            task="regression",
            algorithm="ridge",
            hyperparameters={},
        )
    )
    status, _ = poll_until(backend, key, lambda s: s.state.is_terminal)
    assert status.state is JobState.FAILED
    assert status.message == "Column 'price' is not in sales.csv (columns: a, b)."
    assert versions_of(mlflow_server, "m-atr-nocol") == []


def test_keys_cannot_escape_the_jobs_folder(backend):
    with pytest.raises(BackendError) as error:
        backend.poll_training("../../etc")
    assert error.value.permanent
    assert not Path(backend.jobs_dir / ".." / ".." / "etc" / "spec.json").exists()
