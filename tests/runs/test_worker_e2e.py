"""End to end with a real Celery worker (and beat) in a subprocess, the real
broker and database of this test run, a real MLflow server and real training."""

import psutil
import pytest
from mlflow import MlflowClient

from apps.runs import tasks
from apps.runs.models import Run, RunEvent, RunStatus
from tests.conftest import wait_for_run, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def start(api, params):
    response = api.post("/api/v1/runs/", {"kind": "train", "backend": "local", "params": params}, format="json")
    assert response.status_code == 201, response.json()
    return Run.objects.get(pk=response.json()["id"])


def test_a_training_run_goes_end_to_end_and_the_version_is_in_mlflow(celery_worker, mlflow_server, api):
    run = start(
        api,
        {
            "dataset": "breast_cancer",
            "algorithm": "random_forest",
            "hyperparameters": {"n_estimators": 30, "max_depth": 5},
            "model_name": "bc-forest",
        },
    )
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.SUCCEEDED, run.status_message
    assert run.progress == 100 and run.attempts == 1 and run.external_id == run.idempotency_key
    client = MlflowClient(mlflow_server)
    version = client.get_model_version("bc-forest", run.outputs["model_version"])
    mlflow_run = client.get_run(version.run_id)
    assert version.run_id == run.outputs["mlflow_run_id"]
    assert mlflow_run.data.params["n_estimators"] == "30"
    assert mlflow_run.data.metrics["accuracy"] == run.outputs["metrics"]["accuracy"] > 0.85
    logs = list(run.events.filter(kind=RunEvent.Kind.LOG).values_list("message", flat=True))
    assert any("Training 50%" in line for line in logs)
    moves = list(run.events.filter(kind=RunEvent.Kind.TRANSITION, step=None).values_list("to_status", flat=True))
    assert moves == ["pending", "submitting", "running", "succeeded"]

    # A redelivered submit (acks_late after a lost ack) finds nothing to do.
    tasks.advance_run.delay(str(run.pk))
    tasks.advance_run.apply(args=[str(run.pk)])
    assert len(client.search_model_versions("name = 'bc-forest'")) == 1
    run.refresh_from_db()
    assert run.attempts == 1 and run.status == RunStatus.SUCCEEDED


def test_cancel_from_the_api_kills_the_training_process(celery_worker, api, settings):
    run = start(
        api,
        {
            "dataset": "synthetic_classification",
            "algorithm": "gradient_boosting",
            "dataset_options": {"n_samples": 80000, "n_features": 20},
            "hyperparameters": {"n_estimators": 500},
            "model_name": "slow-gb",
        },
    )

    def training():
        run.refresh_from_db()
        return run.status == RunStatus.RUNNING and run.progress >= 5  # 5%: the job says it is fitting

    wait_until(training, 90, message="training to start")
    pid = int((settings.LOCAL_JOBS_DIR / run.external_id / "pid").read_text().split()[0])
    response = api.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelling"
    wait_for_run(run, FINAL, timeout=60)
    assert run.status == RunStatus.CANCELLED, run.status_message
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_failure_in_the_job_fails_the_run_with_the_reason(celery_worker, mlflow_server, api, settings):
    (settings.DATA_ROOT / "houses.csv").write_text("rooms,area\n3,70\n4,95\n")
    run = start(
        api,
        {
            "dataset": "houses.csv",
            "target_column": "price",
            "task": "regression",
            "algorithm": "ridge",
            "model_name": "houses",
        },
    )
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.FAILED
    assert run.status_message == "Column 'price' is not in houses.csv (columns: rooms, area)."
    assert MlflowClient(mlflow_server).search_model_versions("name = 'houses'") == []


def test_a_run_stuck_in_submitting_is_submitted_again_by_the_poller(celery_worker, mlflow_server, make_run):
    """A worker died after claiming the submit: the watchdog (the beat, here the test) resubmits,
    and the attempt the dead worker spent is counted."""
    from django.utils import timezone

    run = make_run(
        RunStatus.SUBMITTING,
        params={"dataset": "wine", "algorithm": "knn", "model_name": "wine-knn"},
        next_poll_at=timezone.now(),
        step={"attempts": 1},
    )
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.SUCCEEDED, run.status_message
    assert run.attempts == 2
    assert len(MlflowClient(mlflow_server).search_model_versions("name = 'wine-knn'")) == 1
