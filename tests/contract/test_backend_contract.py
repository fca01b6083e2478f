"""One contract, three backends: local (real scikit-learn, MLflow and model
servers), SageMaker (moto's server with Atrium's extensions) and Databricks
(the in-repo stand-in), over real HTTP, with the real Celery worker and beat.

Every long-running step is a run created through the API and carried out by
the worker. The test bodies are the same for every backend; what differs
(connections, instance types, how a version reaches the registry, canned
answers) is in the ``target`` fixture (conftest.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from apps.backends.base import BackendError, CostRecord, JobState, ModelRef
from apps.runs import tasks
from apps.runs.engine import job_of_step
from apps.runs.models import Run, RunEvent, RunStatus
from apps.runs.operations import OPERATIONS
from tests.conftest import wait_for_run

from .conftest import EXPECTED_PREDICTIONS, iris_records

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def start(api, target, kind: str, params: dict, *, connection: str | None = None) -> Run:
    where = {"connection": connection} if connection else target.run_target()
    response = api.post("/api/v1/runs/", {"kind": kind, **where, "params": params}, format="json")
    assert response.status_code == 201, response.json()
    return Run.objects.get(pk=response.json()["id"])


def finish(run: Run, timeout: float = 150) -> Run:
    return wait_for_run(run, FINAL, timeout=timeout)


def succeeded(run: Run, timeout: float = 150) -> Run:
    finish(run, timeout)
    assert run.status == RunStatus.SUCCEEDED, f"{run.kind} run {run.status}: {run.status_message}"
    return run


def short_id() -> str:
    return uuid.uuid4().hex[:6]


# --- two trained versions per backend, reused by the tests of that backend ----------------


@dataclass
class Trained:
    model: str
    versions: list[str]


_trained: dict[str, Trained] = {}


def train_two_versions(api, target) -> tuple[Trained, list[Run]]:
    model = f"iris-contract-{short_id()}"
    runs = [
        start(api, target, "train", target.train_params(model, max_iter=max_iter)) for max_iter in (200, 300)
    ]  # at the same time: the worker has two processes
    for run in runs:
        succeeded(run)
    trained = Trained(model, target.registered_versions(model, runs))
    _trained[target.name] = trained
    return trained, runs


def two_versions(api, target) -> Trained:
    return _trained.get(target.name) or train_two_versions(api, target)[0]


# --- the flow ---------------------------------------------------------------------------


def test_train_versions_approve_alias_and_redeliver_the_submit(celery_worker, api, target):
    trained, runs = train_two_versions(api, target)
    v1, v2 = trained.versions
    assert v1 != v2
    backend = target.backend()

    listed = {info.version: info for info in backend.list_model_versions(trained.model)}
    assert {v1, v2} <= set(listed), listed
    assert listed[v1].aliases == listed[v2].aliases == []

    if target.keeps_approval_status:
        backend.set_approval_status(ModelRef(trained.model, v2), "Approved")
        listed = {info.version: info for info in backend.list_model_versions(trained.model)}
        assert listed[v2].approval_status == "Approved"
    else:  # documented: Unity Catalog has no approval status, an alias marks the approved version
        with pytest.raises(BackendError) as caught:
            backend.set_approval_status(ModelRef(trained.model, v2), "Approved")
        assert caught.value.permanent and "alias" in caught.value.message

    backend.set_alias(ModelRef(trained.model, v2), "champion")
    listed = {info.version: info for info in backend.list_model_versions(trained.model)}
    assert listed[v2].aliases == ["champion"] and listed[v1].aliases == []

    # A redelivered submit (the broker, after success), and a worker that died after submitting but
    # before recording it (past the engine: the backend itself must find its job), create no second job.
    run = runs[0]
    jobs = target.training_jobs(run.idempotency_key)
    assert len(jobs) == 1, jobs
    tasks.advance_run.apply(args=[str(run.pk)])
    assert OPERATIONS["train"].submit(target.backend(), job_of_step(run.steps.get(), run)) == run.external_id
    assert target.training_jobs(run.idempotency_key) == jobs
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 1)
    moves = list(run.events.filter(kind=RunEvent.Kind.TRANSITION, step=None).values_list("to_status", flat=True))
    assert moves == ["pending", "submitting", "running", "succeeded"]
    assert {info.version for info in backend.list_model_versions(trained.model)} == {v1, v2}


def test_deploy_canary_invoke_rollback_undeploy(celery_worker, api, target, request):
    trained = two_versions(api, target)
    v1, v2 = trained.versions
    backend = target.backend()
    endpoint = f"contract-{target.name}-{short_id()}"
    request.addfinalizer(lambda: backend.delete_endpoint(endpoint))  # no model server outlives a failure
    blue_type, green_type = target.endpoint_instance_types
    variants = [
        {"name": "blue", "model_name": trained.model, "model_version": v1, "instance_type": blue_type, "weight": 100},
        {"name": "green", "model_name": trained.model, "model_version": v2, "instance_type": green_type, "weight": 0},
    ]

    deploy = succeeded(start(api, target, "deploy", {"endpoint": endpoint, "variants": variants}))
    assert deploy.outputs["weights"] == {"blue": 100, "green": 0}
    status = backend.get_endpoint(endpoint)
    assert (status.state, status.weights) == ("in_service", {"blue": 100, "green": 0})

    # a redelivered deploy, through the engine and past it, creates no second endpoint
    resources = target.endpoint_resources(endpoint)
    assert len(resources) == 1, resources
    tasks.advance_run.apply(args=[str(deploy.pk)])
    assert OPERATIONS["deploy"].submit(target.backend(), job_of_step(deploy.steps.get(), deploy)) == endpoint
    assert target.endpoint_resources(endpoint) == resources
    assert backend.get_endpoint(endpoint).state == "in_service"

    traffic = succeeded(start(api, target, "traffic", {"endpoint": endpoint, "weights": {"blue": 90, "green": 10}}))
    assert traffic.outputs["weights"] == {"blue": 90, "green": 10}
    assert backend.get_endpoint(endpoint).weights == {"blue": 90, "green": 10}

    if target.serves_the_trained_model:
        answer = backend.invoke(endpoint, {"dataframe_records": iris_records()})
        assert answer["predictions"] == EXPECTED_PREDICTIONS

    rollback = succeeded(start(api, target, "rollback", {"endpoint": endpoint}))
    serving = {name: weight for name, weight in rollback.outputs["weights"].items() if weight}
    assert serving == {"blue": 100}  # the variant dropped by the rollback (Databricks) or kept at 0
    status = backend.get_endpoint(endpoint)
    assert status.state == "in_service"
    assert {name: weight for name, weight in status.weights.items() if weight} == {"blue": 100}

    undeploy = succeeded(start(api, target, "undeploy", {"endpoint": endpoint}))
    assert undeploy.outputs == {"deleted": endpoint}
    with pytest.raises(BackendError) as caught:
        backend.get_endpoint(endpoint)
    assert caught.value.permanent
    assert target.endpoint_resources(endpoint) == []


def test_provision_then_teardown_a_workspace(celery_worker, api, target):
    name = f"ws-{target.name}-{short_id()}"
    provision = finish(start(api, target, "provision", {"resource": "workspace", "name": name}))
    assert provision.status == RunStatus.SUCCEEDED, provision.status_message
    resource_id = provision.outputs["resource_id"]
    assert resource_id

    backend = target.backend()
    assert backend.poll_provision(resource_id).state is JobState.SUCCEEDED

    teardown = succeeded(start(api, target, "teardown", {"resource_id": resource_id}))
    assert teardown.outputs == {"torn_down": resource_id}
    try:
        after = backend.poll_provision(resource_id)
    except BackendError:
        pass  # gone
    else:
        assert after.state is not JobState.SUCCEEDED, after


def test_costs_cover_today(celery_worker, api, target, team):
    two_versions(api, target)  # something ran today
    today = datetime.now(UTC).date()
    target.seed_costs(today, {"team": team.slug, "project": "default"})
    start_day, end_day = today - timedelta(days=1), today + timedelta(days=1)

    records = target.backend().get_costs(start=start_day, end=end_day)
    assert records, "no costs for today"
    for record in records:
        assert isinstance(record, CostRecord)
        assert start_day <= record.day <= end_day
        assert record.amount > 0 and record.currency
    assert any(record.day == today and record.tags.get("team") == team.slug for record in records), records


# --- faults -----------------------------------------------------------------------------


def test_throttled_calls_are_retried_and_the_run_succeeds(celery_worker, api, target):
    if target.throttling_reason:
        pytest.skip(target.throttling_reason)
    target.throttle(2)
    run = succeeded(start(api, target, "train", target.train_params(f"iris-throttled-{short_id()}")))
    assert target.throttle_left() == 0  # the throttled answers were given, and absorbed
    assert len(target.training_jobs(run.idempotency_key)) == 1


def test_access_denied_fails_the_run_with_a_permanent_reason(celery_worker, api, target):
    if target.denied_connection is None:
        pytest.skip("The local backend has no credentials to deny.")
    run = finish(
        start(
            api, target, "train", target.train_params(f"iris-denied-{short_id()}"), connection=target.denied_connection
        )
    )
    assert run.status == RunStatus.FAILED
    assert "access denied" in run.status_message.lower(), run.status_message
    assert run.attempts == 1  # permanent: not retried
    assert not run.external_id
    assert not any(secret in run.status_message for secret in target.secrets)


def test_a_job_failing_in_the_cloud_fails_the_run_with_the_clouds_reason(celery_worker, api, target):
    params, reason = target.failing_train_params(f"iris-fails-{short_id()}")
    run = finish(start(api, target, "train", params))
    assert run.status == RunStatus.FAILED
    assert reason in run.status_message, run.status_message
    assert run.external_id  # it was submitted: the cloud ran it and said why it failed


def test_a_restarted_databricks_stand_in_lets_the_run_resume_by_polling(
    celery_worker, api, admin, team, tmp_path, logged_iris_model
):
    """Databricks only: its stand-in keeps state in a file (moto's does not survive a restart)."""
    from apps.backends.sandbox.databricks import DatabricksStandIn
    from apps.connections.services import connection_create
    from tests.conftest import free_port, wait_until

    from .conftest import DATABRICKS_TOKEN, DatabricksTarget

    state, port = tmp_path / "standin.json", free_port()
    slow = {"token": DATABRICKS_TOKEN, "port": port, "state_path": state, "pending_polls": 2, "running_polls": 3}
    first = DatabricksStandIn(**slow).start()
    config = {"host": first.url, "catalog": "atrium", "schema": "restart"}
    connection_create(
        user=admin,
        name="databricks-restart",
        kind="databricks",
        config=config,
        secrets={"token": DATABRICKS_TOKEN},
        teams=[team],
    )
    target = DatabricksTarget(
        stand_in=first, config=config, model_source=logged_iris_model, connection="databricks-restart"
    )
    try:
        run = start(api, target, "train", target.train_params(f"iris-restart-{short_id()}"))
        wait_until(lambda: Run.objects.get(pk=run.pk).status == RunStatus.RUNNING, 60, message="the run to start")
    finally:
        first.stop()
    job = next(iter(first.state["runs"].values()))
    assert job["life_cycle_state"] != "TERMINATED"  # stopped mid-run

    time.sleep(3)  # polls find it down (the SDK retries connection errors, then the engine polls again later)
    with DatabricksStandIn(**slow) as second:  # same port, same state file
        succeeded(run, timeout=90)
        assert [r["run_id"] for r in second.state["runs"].values()] == [job["run_id"]]  # no second job
        assert second.state["runs"][str(job["run_id"])]["life_cycle_state"] == "TERMINATED"
    assert run.external_id == str(job["run_id"]) and run.attempts == 1


def test_no_stored_secret_is_shown_or_logged(celery_worker, api, target, client, admin, ds):
    if not target.secrets:
        pytest.skip("The local backend stores no secrets.")
    from apps.connections.models import Connection

    run = succeeded(start(api, target, "train", target.train_params(f"iris-secret-{short_id()}")))
    denied = finish(
        start(
            api, target, "train", target.train_params(f"iris-secret-{short_id()}"), connection=target.denied_connection
        )
    )
    assert denied.status == RunStatus.FAILED

    seen = []
    for pk in (run.pk, denied.pk):
        seen.append(api.get(f"/api/v1/runs/{pk}/").content.decode())
    client.force_login(ds)
    for pk in (run.pk, denied.pk):
        page = client.get(f"/runs/{pk}/")
        assert page.status_code == 200
        seen.append(page.content.decode())
    client.force_login(admin)
    seen.append(client.get("/connections/").content.decode())
    for connection in Connection.objects.all():
        client.post(f"/connections/{connection.pk}/test/")  # the test report shows the cloud's messages
        page = client.get(f"/connections/{connection.pk}/")
        assert page.status_code == 200
        seen.append(page.content.decode())
    seen.append(celery_worker.log_path.read_text(errors="replace"))

    for secret in target.secrets:
        for text in seen:
            assert secret not in text
