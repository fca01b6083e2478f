"""Template runs end to end: a real Celery worker (with beat), a real MLflow
server, real training and a real local model server."""

import textwrap

import pytest
from django.conf import settings
from mlflow import MlflowClient
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import api_token_create
from apps.backends.registry import get_backend
from apps.notifications.models import Notification
from apps.runs.models import Run, RunStatus, RunStep, StepStatus
from tests.conftest import wait_for_run, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}

TWO_TRAININGS = """
apiVersion: atrium/v1
slug: two-models
name: Two models
owner: {owner}
kind: train
backends: [local]
parameters:
  type: object
  required: [file]
  properties:
    file: {{type: string}}
steps:
  - id: first
    action: train
    input:
      model_name: first-model
      dataset: iris
      algorithm: logistic_regression
      hyperparameters: {{max_iter: 200}}
  - id: second
    action: train
    input:
      model_name: second-model
      dataset: ${{{{ parameters.file }}}}
      target_column: target
      task: classification
      algorithm: logistic_regression
      hyperparameters: {{max_iter: 200}}
"""


def client_for(user) -> APIClient:
    _, key = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def launch(api, slug, params):
    response = api.post(f"/api/v1/templates/{slug}/launch/", {"params": params}, format="json")
    assert response.status_code == 201, response.json()
    return Run.objects.get(pk=response.json()["id"])


def wait_for_step(run, key, statuses, timeout=120):
    step = run.steps.get(key=key)

    def reached():
        step.refresh_from_db()
        return step.status in statuses

    wait_until(reached, timeout, message=f"step {key} to reach {statuses}")
    return step


def test_train_wait_for_approval_then_deploy(celery_worker, mlflow_server, shipped_catalog, api, make_user, team):
    """The gate is a request the team's approvers decide under Approvals (its
    staging policy); the data scientist may not, the run goes on once approved."""
    from apps.approvals.models import PromotionRequest
    from apps.approvals.policies import environment_save

    environment_save(user=make_user("boss", role=Role.ADMIN), team=team, name="staging", approvals_required=1)
    approver = make_user("gatekeeper", role=Role.APPROVER)
    run = launch(
        api,
        "train-approve-deploy",
        {"model_name": "gated", "dataset": "iris", "endpoint": "gated-ep", "n_estimators": 10},
    )
    assert run.kind == "template" and run.template_version == shipped_catalog["train-approve-deploy"].current_version
    assert list(run.steps.values_list("key", flat=True)) == ["train", "approve", "deploy"]

    gate = wait_for_step(run, "approve", {StepStatus.WAITING})
    train = run.steps.get(key="train")
    assert train.status == StepStatus.SUCCEEDED and train.model_version == "1"
    assert gate.params == {"subject": "gated version 1"}  # resolved from the train step's outputs
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.steps.get(key="deploy").status == StepStatus.PENDING

    # The request is made just after the gate starts waiting (the engine's hook, after the move commits).
    wait_until(lambda: PromotionRequest.objects.filter(gate_step=gate).exists(), 30, message="the gate's request")
    request = PromotionRequest.objects.get(gate_step=gate)
    assert request.environment.name == "staging" and request.requested_by == run.created_by
    assert (request.model_version.model.name, request.model_version.version) == ("gated", "1")
    assert Notification.objects.filter(user=approver, url=request.get_absolute_url(), level="action").exists()
    assert Notification.objects.filter(user=run.created_by, message__contains="waits for staging").exists()
    decide = f"/api/v1/promotions/{request.pk}/decide/"
    assert api.post(decide, {"decision": "approve"}, format="json").status_code == 403  # the run's owner may not
    response = client_for(approver).post(decide, {"decision": "approve", "comment": "looks good"}, format="json")
    assert response.status_code == 200, response.json()

    try:
        wait_for_run(run, FINAL, timeout=180)
        assert run.status == RunStatus.SUCCEEDED, run.status_message
        deploy = run.steps.get(key="deploy")
        assert deploy.params["variants"][0]["model_version"] == "1"
        assert run.outputs["deploy"]["endpoint"] == "gated-ep"
        gate.refresh_from_db()
        assert gate.decided_by == approver and gate.outputs["comment"] == "looks good"
        assert MlflowClient(mlflow_server).get_model_version("gated", "1").status == "READY"
        # The notification is an effect applied after the run's end commits (apps/runs/hooks.py): a
        # moment later than the status this test just read, as the other run tests wait for it.
        done = Notification.objects.filter(user=run.created_by, run=run, level="success")
        wait_until(done.exists, 30, message="the run's success notification")
    finally:
        get_backend("local").delete_endpoint("gated-ep")


def test_rejecting_the_gate_ends_the_run_and_deploys_nothing(celery_worker, shipped_catalog, api, make_user):
    run = launch(
        api,
        "train-approve-deploy",
        {"model_name": "rejected", "dataset": "iris", "endpoint": "never-ep", "n_estimators": 5},
    )
    gate = wait_for_step(run, "approve", {StepStatus.WAITING})
    admin = make_user("naysayer", role=Role.ADMIN)
    response = client_for(admin).post(
        f"/api/v1/runs/{run.pk}/steps/{gate.pk}/decide/",
        {"decision": "reject", "comment": "metrics too low"},
        format="json",
    )
    assert response.status_code == 200
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.FAILED and "metrics too low" in run.status_message
    assert run.steps.get(key="deploy").status == StepStatus.CANCELLED


def test_retry_redoes_only_the_failed_step(celery_worker, mlflow_server, make_template, api, team):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.rename(columns={"target": "label"}).to_csv(settings.DATA_ROOT / "later.csv", index=False)
    template = make_template(slug="two-models", text=textwrap.dedent(TWO_TRAININGS).format(owner=team.slug))
    run = launch(api, template.slug, {"file": "later.csv"})
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.FAILED
    first, second = run.steps.order_by("position")
    assert first.status == StepStatus.SUCCEEDED and second.status == StepStatus.FAILED
    assert "target" in second.status_message  # the job's own reason: no such column

    # The data is fixed; retry from the failed step.
    frame.to_csv(settings.DATA_ROOT / "later.csv", index=False)
    response = api.post(f"/api/v1/runs/{run.pk}/retry/", format="json")
    assert response.status_code == 201, response.json()
    retry = Run.objects.get(pk=response.json()["id"])
    assert retry.retry_of == run and retry.params == run.params
    wait_for_run(retry, FINAL)
    assert retry.status == RunStatus.SUCCEEDED, retry.status_message
    reused, redone = retry.steps.order_by("position")
    assert reused.reused_from == first and reused.external_id == first.external_id
    assert redone.reused_from is None and redone.status == StepStatus.SUCCEEDED
    client = MlflowClient(mlflow_server)
    assert len(client.search_model_versions("name = 'first-model'")) == 1  # not trained again
    assert len(client.search_model_versions("name = 'second-model'")) == 1
    assert retry.outputs["first"]["model_version"] == "1"

    # Only a failed or cancelled run can be retried.
    again = api.post(f"/api/v1/runs/{retry.pk}/retry/", format="json")
    assert again.status_code == 400 and "status" in again.json()


def test_cancelling_a_run_waiting_at_a_gate(celery_worker, shipped_catalog, api):
    run = launch(
        api,
        "train-approve-deploy",
        {"model_name": "cancelled", "dataset": "iris", "endpoint": "cancel-ep", "n_estimators": 5},
    )
    wait_for_step(run, "approve", {StepStatus.WAITING})
    assert api.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 200
    wait_for_run(run, FINAL)
    assert run.status == RunStatus.CANCELLED
    statuses = dict(RunStep.objects.filter(run=run).values_list("key", "status"))
    assert statuses == {"train": "succeeded", "approve": "cancelled", "deploy": "cancelled"}


SLOW = """
apiVersion: atrium/v1
slug: slow
name: Slow training then more
owner: {owner}
kind: train
backends: [local]
parameters: {{type: object}}
steps:
  - id: slow
    action: train
    input:
      model_name: slow-template
      dataset: synthetic_classification
      dataset_options: {{n_samples: 80000, n_features: 20}}
      algorithm: gradient_boosting
      hyperparameters: {{n_estimators: 500}}
  - id: after
    action: approval
"""


def test_cancelling_a_running_step_kills_its_job(celery_worker, make_template, api, team, settings):
    import psutil

    make_template(slug="slow", text=textwrap.dedent(SLOW).format(owner=team.slug))
    run = launch(api, "slow", {})
    step = wait_for_step(run, "slow", {StepStatus.RUNNING}, timeout=90)
    wait_until(lambda: (settings.LOCAL_JOBS_DIR / step.external_id / "pid").exists(), 30, message="the job's pid")
    pid = int((settings.LOCAL_JOBS_DIR / step.external_id / "pid").read_text().split()[0])
    assert api.post(f"/api/v1/runs/{run.pk}/cancel/").json()["status"] == "cancelling"
    wait_for_run(run, FINAL, timeout=60)
    assert run.status == RunStatus.CANCELLED, run.status_message
    assert dict(run.steps.values_list("key", "status")) == {"slow": "cancelled", "after": "cancelled"}
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_search_registers_the_best_model_then_batch_scores_a_dataset(
    celery_worker, mlflow_server, shipped_catalog, api
):
    import pandas as pd

    search = launch(
        api, "hyperparameter-search", {"model_name": "tuned", "dataset": "iris", "trials": 3, "max_trees": 20}
    )
    wait_for_run(search, FINAL, timeout=180)
    assert search.status == RunStatus.SUCCEEDED, search.status_message
    outputs = search.outputs["search"]
    assert outputs["trials"] == 3 and outputs["objective"] == "accuracy" and outputs["model_version"] == "1"
    assert 10 <= outputs["best_params"]["n_estimators"] <= 20
    client = MlflowClient(mlflow_server)
    parent = client.get_run(outputs["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 3 and parent.data.metrics["accuracy"] == outputs["best_score"]

    batch = launch(api, "batch-inference", {"model_name": "tuned", "model_version": "1", "dataset": "iris"})
    wait_for_run(batch, FINAL, timeout=120)
    assert batch.status == RunStatus.SUCCEEDED, batch.status_message
    scored = batch.outputs["score"]
    frame = pd.read_csv(scored["output"])
    assert scored["rows"] == len(frame) == 150 and "prediction" in frame.columns
    assert set(frame["prediction"]) <= {0, 1, 2}


def test_bad_search_space_and_unknown_batch_dataset_are_refused_before_anything_runs(api, shipped_catalog):
    response = api.post(
        "/api/v1/runs/",
        {
            "kind": "tune",
            "params": {
                "model_name": "m",
                "dataset": "iris",
                "algorithm": "random_forest",
                "search_space": {"n_estimators": {"type": "int", "low": 0, "high": 5}, "depth": {"type": "magic"}},
            },
        },
        format="json",
    )
    assert response.status_code == 400 and "depth" in str(response.json()["params"]["search_space"])
    response = api.post(
        "/api/v1/templates/batch-inference/launch/",
        {"params": {"model_name": "m", "model_version": "1", "dataset": "nowhere.csv"}},
        format="json",
    )
    assert response.status_code == 400 and "File not found" in str(response.json())
    assert not Run.objects.exists()
