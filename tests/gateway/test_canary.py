"""Canaries on the local backend judged on real gateway traffic: a real
worker runs the rollout, real model servers answer, the gateway splits the
traffic by the stage's weights and its rollups are what the controller reads.
A healthy candidate is promoted to 100%; one that fails is rolled back on its own."""

import time

import pytest
from django.conf import settings

from apps.backends.local.backend import LocalBackend
from apps.deployments import services
from apps.deployments.models import Endpoint, EndpointEvent
from apps.runs.models import RunStatus
from tests.conftest import wait_for_run

from .conftest import MODEL, RECORDS, drive, key_for, log_tiny_model

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def log_failing_version(tracking_uri: str) -> str:
    import mlflow
    import mlflow.pyfunc

    class FailsOnPurpose(mlflow.pyfunc.PythonModel):  # a local class: pickled by value, loads anywhere
        def predict(self, context, model_input, params=None):
            raise RuntimeError("this version fails on purpose")

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=FailsOnPurpose(), registered_model_name=MODEL)
    return str(info.registered_model_version)


@pytest.fixture
def servers(celery_worker, mlflow_server):
    yield
    backend = LocalBackend(jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=mlflow_server, data_root=settings.DATA_ROOT)
    for name in ("canary-live-good", "canary-live-bad"):
        backend.delete_endpoint(name)


def deploy(ds, name, version, **rollout):
    run = services.deployment_start(user=ds, endpoint=name, model_name=MODEL, model_version=version, rollout=rollout)
    return run


def test_canaries_through_the_gateway(ds, mlflow_server, servers, make_gateway):
    good = log_tiny_model(mlflow_server)
    better = log_tiny_model(mlflow_server)
    bad = log_failing_version(mlflow_server)
    gateway = make_gateway()
    rollout = {
        "strategy": "canary",
        "percent": 25,
        "bake_seconds": 2,
        "thresholds": {"min_requests": 10, "max_p95_ratio": 100},
    }  # judged on errors

    # A healthy candidate: promoted to all traffic once it has served enough requests.
    wait_for_run(deploy(ds, "canary-live-good", good), {RunStatus.SUCCEEDED}, timeout=120)
    endpoint = Endpoint.objects.get(name="canary-live-good")
    _, key = key_for(endpoint, ds)
    run = deploy(ds, "canary-live-good", better, **rollout)
    seen = drive(run, gateway, key, "/serve/canary-live-good/invocations")
    assert run.status == RunStatus.SUCCEEDED, [(s.key, s.status_message) for s in run.steps.all()]
    candidate = f"{MODEL}-v{better}"
    assert (200, candidate) in seen and all(code == 200 for code, _ in seen), [s for s in seen if s[0] != 200]
    endpoint.refresh_from_db()
    assert endpoint.weights == {candidate: 100}
    assert run.steps.get(key="stage-1").status_message.startswith("Healthy: error rate 0.0%")

    # A candidate that fails: rolled back on its own, and the history says why.
    wait_for_run(deploy(ds, "canary-live-bad", good), {RunStatus.SUCCEEDED}, timeout=120)
    endpoint = Endpoint.objects.get(name="canary-live-bad")
    _, key = key_for(endpoint, ds)
    run = deploy(ds, "canary-live-bad", bad, **{**rollout, "bake_seconds": 3600})
    seen = drive(run, gateway, key, "/serve/canary-live-bad/invocations")
    assert run.status == RunStatus.FAILED
    assert any(code >= 500 for code, _ in seen)  # the candidate's errors reached clients, then stopped
    event = endpoint.events.get(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert event.automatic and event.message.startswith("Rolled back automatically: error rate 100.0% is above 5.0%")
    endpoint.refresh_from_db()
    assert endpoint.weights[f"{MODEL}-v{good}"] == 100
    time.sleep(0.3)  # past the gateway's route cache
    after = [gateway.post("/serve/canary-live-bad/invocations", key, json=RECORDS).status_code for _ in range(10)]
    assert after == [200] * 10
