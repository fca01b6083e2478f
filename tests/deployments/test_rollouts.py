"""A person cutting a rollout short, on the local backend for real: a real
worker, real MLflow versions, real model servers. (tests/gateway/test_canary.py
has the controller promoting and rolling back on its own on real gateway
traffic; tests/deployments/test_judge.py how it judges.)"""

from __future__ import annotations

import pandas as pd
import pytest
from django.conf import settings as django_settings
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from apps.backends.local.backend import LocalBackend
from apps.deployments import services
from apps.deployments.models import Endpoint, EndpointEvent
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
