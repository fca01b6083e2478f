"""Rollouts the portal runs itself, on the local backend for real: a real
worker, real MLflow versions, real model servers. The gateway's traffic is
stood in for by writing its per-minute rollups directly (what the gateway
does after each batch), so each test controls exactly what the controller
sees; tests/gateway drives the same controller with real traffic."""

from __future__ import annotations

import pandas as pd
import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from apps.backends.local.backend import LocalBackend
from apps.core.errors import InvalidInput
from apps.deployments import services, telemetry
from apps.deployments.models import Endpoint, EndpointEvent, EndpointState
from apps.runs.models import RunStatus, StepStatus
from tests.conftest import wait_for_run, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MODEL = "rollout-iris"


@pytest.fixture(scope="module")
def versions(mlflow_server):
    """Two versions of one model: a working one and one whose every prediction fails."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    mlflow.set_tracking_uri(mlflow_server)
    iris = load_iris(as_frame=True)
    with mlflow.start_run():
        good = mlflow.sklearn.log_model(
            LogisticRegression(max_iter=300).fit(iris.data, iris.target),
            name="model",
            registered_model_name=MODEL,
            input_example=iris.data.head(2),
        )

    class FailsOnPurpose(mlflow.pyfunc.PythonModel):  # a local class: pickled by value, loads anywhere
        def predict(self, context, model_input: pd.DataFrame, params=None):
            raise RuntimeError("this version fails on purpose")

    with mlflow.start_run():
        bad = mlflow.pyfunc.log_model(name="model", python_model=FailsOnPurpose(), registered_model_name=MODEL)
    return str(good.registered_model_version), str(bad.registered_model_version)


@pytest.fixture
def served(celery_worker, mlflow_server):
    """Model servers never outlive a test."""
    yield
    backend = LocalBackend(
        jobs_dir=django_settings.LOCAL_JOBS_DIR, tracking_uri=mlflow_server, data_root=django_settings.DATA_ROOT
    )
    root = django_settings.LOCAL_JOBS_DIR / "_endpoints"
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.is_dir():
            backend.delete_endpoint(folder.name)


def gateway_traffic(endpoint: Endpoint, variant: str, *, ok: int, failed: int = 0, ms: float = 5.0) -> None:
    row = telemetry.MinuteCounts(
        endpoint_id=endpoint.pk, variant=variant, minute=timezone.now().replace(second=0, microsecond=0)
    )
    for status in [200] * ok + [503] * failed:
        row.add(status=status, latency_ms=ms, model_latency_ms=ms - 1, bytes_in=200, bytes_out=20)
    telemetry.minutes_record([row])


def first_deploy(ds, name, version):
    run = services.deployment_start(user=ds, endpoint=name, model_name=MODEL, model_version=version)
    wait_for_run(run, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=120)
    assert run.status == RunStatus.SUCCEEDED, run.status_message
    return Endpoint.objects.get(name=name)


def wait_for_stage(run, key="stage-1"):
    """Wait for the stage to bake; say what every step did if it never does."""
    try:
        wait_until(lambda: run.steps.get(key=key).status == StepStatus.RUNNING, 60, message=f"{key} to bake")
    except AssertionError:
        run.refresh_from_db()
        steps = "; ".join(f"{s.key} {s.status}: {s.status_message}" for s in run.steps.order_by("position"))
        raise AssertionError(f"run {run.status} ({run.status_message}); {steps}") from None


def canary(ds, name, version, **rollout):
    return services.deployment_start(
        user=ds,
        endpoint=name,
        model_name=MODEL,
        model_version=version,
        rollout={"strategy": "canary", "percent": 20, "bake_seconds": 1, "thresholds": {"min_requests": 10}, **rollout},
    )


def test_a_healthy_canary_is_promoted(ds, versions, served):
    good, _ = versions
    endpoint = first_deploy(ds, "canary-good", good)
    assert endpoint.state == EndpointState.IN_SERVICE
    assert [(v.name, v.model_version) for v in endpoint.variants.all()] == [(f"rollout-iris-v{good}", good)]
    baseline = f"rollout-iris-v{good}"

    # The same model again as a new version is refused; a new version of it is what a canary needs.
    with pytest.raises(InvalidInput):
        canary(ds, "canary-good", good)

    import mlflow

    second = mlflow.register_model(
        f"models:/{MODEL}/{good}", MODEL
    ).version  # the same weights as a new version: healthy by construction
    run = canary(ds, "canary-good", str(second))
    candidate = f"rollout-iris-v{second}"
    wait_for_stage(run)
    endpoint.refresh_from_db()
    assert endpoint.weights == {baseline: 80, candidate: 20}  # the gateway routes by this split now

    gateway_traffic(endpoint, baseline, ok=40)
    gateway_traffic(endpoint, candidate, ok=12)
    wait_for_run(run, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=60)
    assert run.status == RunStatus.SUCCEEDED, run.status_message

    endpoint.refresh_from_db()
    assert [v.name for v in endpoint.variants.all()] == [candidate]
    assert endpoint.weights == {candidate: 100} and endpoint.rollout_run is None
    stage = run.steps.get(key="stage-1")
    assert stage.status_message.startswith("Healthy: error rate 0.0% (baseline 0.0%)")
    kinds = list(endpoint.events.order_by("at", "id").values_list("kind", flat=True))
    assert kinds[-3:] == [EndpointEvent.Kind.DEPLOYED, EndpointEvent.Kind.STAGE, EndpointEvent.Kind.PROMOTED]


def test_a_failing_canary_is_rolled_back_on_its_own(ds, versions, served):
    good, bad = versions
    endpoint = first_deploy(ds, "canary-bad", good)
    baseline, candidate = f"rollout-iris-v{good}", f"rollout-iris-v{bad}"
    run = canary(ds, "canary-bad", bad, bake_seconds=3600)  # judged long before the bake is over
    wait_for_stage(run)

    gateway_traffic(endpoint, baseline, ok=40)
    gateway_traffic(endpoint, candidate, ok=4, failed=8)
    wait_for_run(run, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=60)

    assert run.status == RunStatus.FAILED
    assert run.steps.get(key="promote").status == StepStatus.CANCELLED  # never reached
    reason = run.steps.get(key="stage-1").status_message
    assert reason.startswith("Rolled back automatically: error rate 66.7% is above 5.0%")
    event = endpoint.events.get(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert event.automatic and event.message == reason and event.weights == {baseline: 100, candidate: 0}

    # The candidate's server capacity is released: the baseline alone serves again.
    wait_until(lambda: [v.name for v in endpoint.variants.all()] == [baseline], 60, message="the candidate released")
    endpoint.refresh_from_db()
    assert endpoint.weights == {baseline: 100} and endpoint.rollout_run is None


def test_a_person_rolls_a_canary_back(ds, versions, served):
    good, bad = versions
    endpoint = first_deploy(ds, "canary-manual", good)
    run = canary(ds, "canary-manual", bad, bake_seconds=3600)
    wait_for_stage(run)

    services.endpoint_command(user=ds, endpoint=Endpoint.objects.get(pk=endpoint.pk), command="rollback")
    wait_for_run(run, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=60)

    assert run.steps.get(key="stage-1").status_message == f"Rolled back by {ds.username}"
    event = endpoint.events.get(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert not event.automatic and event.actor == ds
