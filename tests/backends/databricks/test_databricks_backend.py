"""The Databricks backend against the in-repo stand-in, over real HTTP through
databricks-sdk. The endpoint flow serves a real scikit-learn model logged with
MLflow."""

from __future__ import annotations

import json
import socket
from datetime import date

import pytest

from apps.backends.base import (
    Backend,
    BackendError,
    EndpointSpec,
    EndpointVariant,
    JobState,
    Link,
    ModelRef,
    TrainingSpec,
)
from apps.backends.databricks.backend import DatabricksBackend
from apps.backends.jobs.cluster_job import OUTPUTS_MARKER
from apps.backends.sandbox.databricks import FAIL_MARKER, DatabricksStandIn

TOKEN = "dapi-test-token"
DENIED = "dapi-test-denied"


@pytest.fixture(scope="module")
def standin():
    with DatabricksStandIn(token=TOKEN, denied_token=DENIED) as server:
        yield server


def make_backend(url: str, token: str = TOKEN, **options) -> DatabricksBackend:
    return DatabricksBackend(host=url, token=token, catalog="atrium", schema="models", **options)


@pytest.fixture
def backend(standin):
    standin.throttle(0)
    return make_backend(standin.url)


def spec(key: str, **overrides) -> TrainingSpec:
    fields = {
        "key": key,
        "model_name": "iris-clf",
        "dataset": "iris",
        "algorithm": "logistic_regression",
        "task": "classification",
        "hyperparameters": {"C": 1.0},
        "tags": {"team": "alpha"},
    }
    return TrainingSpec(**{**fields, **overrides})


def poll_until_done(backend, run_id: str, tries: int = 10):
    cursor, logs = 0, []
    for _ in range(tries):
        status = backend.poll_training(run_id, log_cursor=cursor)
        logs += status.logs
        cursor = status.log_cursor
        if status.state.is_terminal:
            return status, logs
    raise AssertionError(f"run {run_id} did not finish: {status}")


def wait_in_service(backend, name: str, tries: int = 10):
    for _ in range(tries):
        status = backend.get_endpoint(name)
        if status.state == "in_service":
            return status
        assert status.state in {"creating", "updating"}, status
    raise AssertionError(f"endpoint {name} never came into service: {status}")


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    """A real LogisticRegression on iris, logged with MLflow to a file-based
    tracking store; returns (model source URI, MLflow run id, X sample, expected)."""
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("databricks-backend", artifact_location=(root / "artifacts").as_uri())
        X, y = load_iris(return_X_y=True, as_frame=True)
        model = LogisticRegression(max_iter=500).fit(X, y)
        with mlflow.start_run(experiment_id=experiment) as run:
            info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
        source = mlflow.get_logged_model(info.model_id).artifact_location
    finally:
        mlflow.set_tracking_uri(previous)
    sample = X.iloc[[0, 60, 120]]
    return source, run.info.run_id, sample, model.predict(sample).tolist()


def test_implements_the_protocol(backend):
    assert isinstance(backend, Backend)
    assert TOKEN not in repr(backend)


def test_check_reports_reachability_and_access(standin, backend):
    assert all(result["ok"] for result in backend.check()), backend.check()
    denied = make_backend(standin.url, token=DENIED).check()
    assert not any(result["ok"] for result in denied)
    assert "access denied" in denied[0]["message"]


def test_training_runs_to_success_and_resubmit_is_idempotent(standin, backend):
    first = backend.submit_training(spec("atr-success-1"))
    again = backend.submit_training(spec("atr-success-1"))
    assert again == first
    assert sum(1 for m, p in standin.requests if p.endswith("/runs/submit")) >= 2
    assert [r for r in standin.state["runs"].values() if r["run_id"] == int(first)]
    assert standin.state["tokens"]["atr-success-1"] == int(first)

    first_status = backend.poll_training(first)
    assert first_status.state is JobState.PENDING
    status, logs = poll_until_done(backend, first)
    assert status.state is JobState.SUCCEEDED
    assert status.progress == 100.0
    assert status.outputs["databricks_run_id"] == int(first)
    assert status.links == [Link("Databricks job run", f"{standin.url}/#job/runs/{first}")]
    assert status.model is None and status.metrics == {}  # the stand-in's run reported nothing
    assert any("Task finished" in line for line in logs)
    # the submitted task carries the spec as JSON, on a cluster tagged for costs
    task = standin.state["runs"][first]["tasks"][0]["task"]
    assert '"algorithm": "logistic_regression"' in task["spark_python_task"]["parameters"][1]
    assert task["new_cluster"]["custom_tags"]["team"] == "alpha"


def test_a_finished_run_has_its_model_metrics_and_links_typed(standin, backend):
    run_id = backend.submit_training(spec("atr-typed-1", model_name="typed-clf"))
    assert backend.poll_training(run_id).state is JobState.PENDING
    running = backend.poll_training(run_id)
    assert running.state is JobState.RUNNING
    assert running.links == [Link("Databricks job run", f"{standin.url}/#job/runs/{run_id}")]
    reported = {  # what cluster_job.py prints last (train_job's outputs, in Unity Catalog's naming)
        "mlflow_run_id": "abc123",
        "experiment_id": "42",
        "model_name": "atrium.models.typed-clf",
        "model_version": "3",
        "model_uri": "models:/atrium.models.typed-clf/3",
        "metrics": {"accuracy": 0.96, "f1": 1, "note": "not a number"},
    }
    standin.state["runs"][run_id]["logs"].append(OUTPUTS_MARKER + json.dumps(reported))

    status, logs = poll_until_done(backend, run_id)
    assert status.state is JobState.SUCCEEDED
    # the exact name list_registered_models() gives the model
    assert status.model == ModelRef("atrium.models.typed-clf", "3")
    assert status.metrics == {"accuracy": 0.96, "f1": 1.0}
    assert status.links == [
        Link("Databricks job run", f"{standin.url}/#job/runs/{run_id}"),
        Link("Unity Catalog model version", f"{standin.url}/explore/data/models/atrium/models/typed-clf/version/3"),
        Link("MLflow run", f"{standin.url}/ml/experiments/42/runs/abc123"),
    ]
    assert status.outputs == {
        "databricks_run_id": int(run_id),
        "run_page_url": f"{standin.url}/#job/runs/{run_id}",
        "mlflow_run_id": "abc123",
        "experiment_id": "42",
        "model_uri": "models:/atrium.models.typed-clf/3",
    }
    assert not any(line.startswith(OUTPUTS_MARKER) for line in logs)


def test_running_progress_is_estimated(backend):
    run_id = backend.submit_training(spec("atr-progress"))
    backend.poll_training(run_id)  # pending
    running = backend.poll_training(run_id)
    assert running.state is JobState.RUNNING
    assert 5.0 <= running.progress < 95.0


def test_failure_on_request_gives_the_clouds_reason(backend):
    run_id = backend.submit_training(spec("atr-fail-1", tags={"team": "alpha", "scenario": FAIL_MARKER}))
    status, logs = poll_until_done(backend, run_id)
    assert status.state is JobState.FAILED
    assert "failed with message" in status.message
    assert FAIL_MARKER in status.message  # the task's error, from runs/get-output
    assert any("RuntimeError" in line for line in logs)


def test_cancel(backend):
    run_id = backend.submit_training(spec("atr-cancel-1"))
    backend.poll_training(run_id)
    backend.cancel_training(run_id)
    status, _ = poll_until_done(backend, run_id)
    assert status.state is JobState.CANCELLED


def test_unknown_run_is_permanent(backend):
    with pytest.raises(BackendError) as caught:
        backend.poll_training("999999")
    assert caught.value.permanent
    with pytest.raises(BackendError) as caught:
        backend.poll_training("not-a-number")
    assert caught.value.permanent


def test_throttling_is_retried_then_transient(standin, backend):
    standin.throttle(2)
    run_id = backend.submit_training(spec("atr-throttled"))  # the SDK honours Retry-After and retries
    assert run_id.isdigit()
    assert standin.throttle_remaining == 0

    impatient = make_backend(standin.url, retry_timeout_seconds=1)
    standin.throttle(1000)
    try:
        with pytest.raises(BackendError) as caught:
            impatient.poll_training(run_id)
    finally:
        standin.throttle(0)
    assert caught.value.permanent is False
    assert "REQUEST_LIMIT_EXCEEDED" in caught.value.message or "Too many requests" in caught.value.message


def test_access_denied_is_permanent_with_a_clear_message(standin):
    for token in (DENIED, "dapi-wrong"):
        backend = make_backend(standin.url, token=token)
        with pytest.raises(BackendError) as caught:
            backend.submit_training(spec("atr-denied"))
        assert caught.value.permanent
        assert caught.value.message.startswith("access denied:")
        assert token not in caught.value.message


def test_restarted_stand_in_resumes_polling(tmp_path):
    state = tmp_path / "standin.json"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    first = DatabricksStandIn(token=TOKEN, port=port, state_path=state).start()
    backend = make_backend(first.url, retry_timeout_seconds=1)
    try:
        run_id = backend.submit_training(spec("atr-restart"))
        assert backend.poll_training(run_id).state is JobState.PENDING
    finally:
        first.stop()

    with pytest.raises(BackendError) as caught:  # down: transient, the engine retries later
        backend.poll_training(run_id)
    assert caught.value.permanent is False

    with DatabricksStandIn(token=TOKEN, port=port, state_path=state):
        assert backend.submit_training(spec("atr-restart")) == run_id  # the idempotency token survived
        status, _ = poll_until_done(backend, run_id)
    assert status.state is JobState.SUCCEEDED


def test_unity_catalog_versions_and_aliases(backend, iris_model):
    source, mlflow_run_id, _, _ = iris_model
    v1 = backend.register_model_version("registry-demo", source, run_id=mlflow_run_id)
    v2 = backend.register_model_version("atrium.models.registry-demo", source)
    assert (v1.name, v1.version, v2.version) == ("atrium.models.registry-demo", "1", "2")

    backend.set_alias(ModelRef(v1.name, "1"), "champion")
    backend.set_alias(ModelRef(v1.name, "2"), "challenger")
    versions = {v.version: v for v in backend.list_model_versions("registry-demo")}
    assert versions["1"].aliases == ["champion"]
    assert versions["2"].aliases == ["challenger"]
    assert versions["1"].source_run_id == mlflow_run_id
    assert versions["1"].artifact_uri == source
    assert versions["1"].tags["status"] == "READY"

    backend.set_alias(ModelRef(v1.name, "2"), "champion")  # moves the alias
    versions = {v.version: v for v in backend.list_model_versions("registry-demo")}
    assert versions["1"].aliases == []
    assert versions["2"].aliases == ["challenger", "champion"]

    with pytest.raises(BackendError) as caught:
        backend.set_approval_status(v1, "Approved")
    assert caught.value.permanent and "alias" in caught.value.message
    with pytest.raises(BackendError) as caught:
        backend.set_alias(ModelRef(v1.name, "99"), "champion")
    assert caught.value.permanent
    with pytest.raises(BackendError) as caught:
        backend.list_model_versions("no-such-model")
    assert caught.value.permanent


def test_endpoint_deploy_canary_invoke_rollback_delete(backend, iris_model):
    source, _, sample, expected = iris_model
    v1 = backend.register_model_version("iris-serving", source)
    v2 = backend.register_model_version("iris-serving", source)
    name = "iris-endpoint"

    with pytest.raises(BackendError) as caught:
        backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("blue", v1, instance_type="ml.m5.large")]))
    assert caught.value.permanent and "GPU_SMALL" in caught.value.message  # valid types come from the SDK

    assert backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("blue", v1, instance_type="GPU_SMALL")])) == name
    assert backend.get_endpoint(name).state == "creating"
    assert wait_in_service(backend, name).weights == {"blue": 100}

    canary = EndpointSpec(name, [EndpointVariant("green", v2, instance_type="GPU_SMALL")], rollout="canary")
    backend.deploy_endpoint(canary)
    assert backend.get_endpoint(name).state == "updating"
    backend.deploy_endpoint(canary)  # redelivered: no second update (it would conflict)
    assert wait_in_service(backend, name).weights == {"blue": 90, "green": 10}

    answer = backend.invoke(name, {"dataframe_records": sample.to_dict(orient="records")})
    assert answer["predictions"] == expected
    assert answer["served_model"] in {"blue", "green"}
    split = backend.invoke(name, {"dataframe_split": sample.to_dict(orient="split")})
    assert split["predictions"] == expected

    backend.update_traffic(name, {"blue": 50, "green": 50})
    assert wait_in_service(backend, name).weights == {"blue": 50, "green": 50}
    with pytest.raises(BackendError) as caught:
        backend.update_traffic(name, {"blue": 50, "red": 50})
    assert caught.value.permanent

    backend.rollback_endpoint(name)
    assert wait_in_service(backend, name).weights == {"blue": 100}
    assert backend.invoke(name, {"dataframe_records": sample.to_dict(orient="records")})["served_model"] == "blue"

    backend.delete_endpoint(name)
    backend.delete_endpoint(name)  # already gone is fine
    with pytest.raises(BackendError) as caught:
        backend.get_endpoint(name)
    assert caught.value.permanent


def test_a_promotion_after_a_canary_scales_the_baseline_to_zero(standin, backend, iris_model):
    """The portal's rollout adds the candidate beside the baseline at 0%, shifts the traffic, then
    deploys the candidate alone: a config the endpoint already has a superset of, which is still a
    change (the baseline kept at 0% but scaled to zero), not a redelivered deploy."""
    source = iris_model[0]
    v1 = backend.register_model_version("iris-promoted", source)
    v2 = backend.register_model_version("iris-promoted", source)
    name = "iris-promotion"
    blue, green = EndpointVariant("blue", v1, instance_type="CPU"), EndpointVariant("green", v2, instance_type="CPU")
    backend.deploy_endpoint(EndpointSpec(name, [blue]))
    wait_in_service(backend, name)
    backend.deploy_endpoint(EndpointSpec(name, [blue, EndpointVariant("green", v2, instance_type="CPU", weight=0)]))
    wait_in_service(backend, name)
    backend.update_traffic(name, {"blue": 0, "green": 100})
    wait_in_service(backend, name)

    promotion = EndpointSpec(name, [green])
    backend.deploy_endpoint(promotion)
    assert backend.get_endpoint(name).state == "updating"
    backend.deploy_endpoint(promotion)  # redelivered: no second update (it would conflict)
    assert wait_in_service(backend, name).weights == {"green": 100, "blue": 0}
    entities = standin.state["endpoints"][name]["config"]["served_entities"]
    served = {e["name"]: e["scale_to_zero_enabled"] for e in entities}
    assert served == {"green": False, "blue": True}  # kept for a rollback, costing nothing idle
    backend.deploy_endpoint(promotion)  # and once it is done, still nothing more
    assert backend.get_endpoint(name).state == "in_service"
    backend.delete_endpoint(name)


def test_costs_from_billable_usage(standin, backend):
    standin.seed_usage(
        [
            {"day": "2025-03-01", "dbus": 2.0, "tags": {"team": "alpha", "run": "r1"}},
            {"day": "2025-03-01", "dbus": 1.0, "tags": {"team": "alpha", "run": "r1"}},
            {"day": "2025-03-02", "dbus": 4.0, "tags": {"team": "beta"}},
            {"day": "2025-04-10", "dbus": 8.0, "tags": {"team": "alpha"}},
        ]
    )
    records = backend.get_costs(start=date(2025, 3, 1), end=date(2025, 3, 31), tags={"team": "alpha"})
    assert [(r.day, r.amount, r.currency, r.tags) for r in records] == [
        (date(2025, 3, 1), 3.0, "DBU", {"team": "alpha", "run": "r1"})
    ]
    priced = make_backend(standin.url, dbu_price=0.5).get_costs(start=date(2025, 3, 1), end=date(2025, 4, 30))
    assert sum(r.amount for r in priced) == pytest.approx(7.5)
    assert {r.currency for r in priced} == {"USD"}
    assert {r.service for r in priced} == {"STANDARD_JOBS_COMPUTE"}
