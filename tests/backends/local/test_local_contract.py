"""The rest of the local backend's contract, for real: two iris models trained
by the backend and registered in a real MLflow server, the registry read and
written through MLflow, an endpoint served by a real model server process
(traffic split, canary, rollback, delete), a workspace provisioned as an MLflow
experiment and folder, and the cost of the training."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import psutil
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_iris

from apps.backends.base import (
    Backend,
    BackendError,
    EndpointSpec,
    EndpointVariant,
    JobState,
    ModelRef,
    ResourceSpec,
    TrainingSpec,
)
from apps.backends.local import processes
from apps.backends.local.backend import LocalBackend
from tests.conftest import wait_until

pytestmark = pytest.mark.worker

MODEL = "iris-contract"


@pytest.fixture(scope="module")
def backend(mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("local-contract")
    (root / "data").mkdir()
    backend = LocalBackend(jobs_dir=root / "jobs", tracking_uri=mlflow_server, data_root=root / "data")
    yield backend
    endpoints = backend.jobs_dir / "_endpoints"  # no model server outlives the tests
    for folder in endpoints.iterdir() if endpoints.is_dir() else []:
        if folder.is_dir():
            backend.delete_endpoint(folder.name)


@pytest.fixture(scope="module")
def trained(backend):
    """Two versions of one model, trained at the same time: {key: final JobStatus}."""
    specs = [
        TrainingSpec(
            key=key,
            model_name=MODEL,
            dataset="iris",
            algorithm="logistic_regression",
            task="classification",
            hyperparameters=hyperparameters,
            tags={"team": "alpha"},
        )
        for key, hyperparameters in [("ctr-a", {"max_iter": 300}), ("ctr-b", {"max_iter": 300, "C": 0.05})]
    ]
    for spec in specs:
        backend.submit_training(spec)

    def done():
        statuses = {s.key: backend.poll_training(s.key) for s in specs}
        return statuses if all(status.state.is_terminal for status in statuses.values()) else None

    statuses = wait_until(done, 120, message="the two training jobs")
    for status in statuses.values():
        assert status.state is JobState.SUCCEEDED, status.message
    return statuses


@pytest.fixture(scope="module")
def versions(trained):
    """(version of ctr-a, version of ctr-b)."""
    return trained["ctr-a"].model.version, trained["ctr-b"].model.version


def iris_records(rows):
    frame = load_iris(as_frame=True).data
    return frame.iloc[rows].to_dict(orient="records")


def test_the_local_backend_is_a_backend(backend):
    assert isinstance(backend, Backend)
    assert [(c["check"], c["ok"]) for c in backend.check()] == [
        ("mlflow", True),
        ("jobs folder", True),
        ("data folder", True),
    ]


def test_lists_versions_with_run_metrics(backend, trained, versions):
    infos = backend.list_model_versions(MODEL)
    assert [info.version for info in infos] == ["2", "1"]  # newest first
    by_version = {info.version: info for info in infos}
    for key, version in zip(("ctr-a", "ctr-b"), versions, strict=True):
        info = by_version[version]
        assert info.source_run_id == trained[key].outputs["mlflow_run_id"]
        assert info.metrics == trained[key].metrics and info.metrics["accuracy"] > 0.6
        assert info.artifact_uri and info.created_at and info.tags["atrium.run_key"] == key
        assert info.aliases == [] and info.approval_status == ""
    assert backend.list_model_versions("no-such-model") == []


def test_alias_and_approval_are_written_to_mlflow(backend, mlflow_server, versions):
    client = MlflowClient(mlflow_server)
    backend.set_alias(ModelRef(MODEL, versions[0]), "champion")
    assert client.get_model_version_by_alias(MODEL, "champion").version == versions[0]
    backend.set_alias(ModelRef(MODEL, versions[1]), "champion")  # moves it
    assert client.get_model_version_by_alias(MODEL, "champion").version == versions[1]

    backend.set_approval_status(ModelRef(MODEL, versions[1]), "Approved")
    assert client.get_model_version(MODEL, versions[1]).tags["atrium.approval_status"] == "Approved"
    info = {i.version: i for i in backend.list_model_versions(MODEL)}[versions[1]]
    assert info.aliases == ["champion"] and info.approval_status == "Approved"

    with pytest.raises(BackendError) as error:
        backend.set_approval_status(ModelRef(MODEL, versions[1]), "Maybe")
    assert error.value.permanent and "PendingManualApproval, Approved, Rejected" in error.value.message
    with pytest.raises(BackendError) as error:
        backend.set_approval_status(ModelRef(MODEL, "99"), "Rejected")
    assert error.value.permanent
    with pytest.raises(BackendError) as error:
        backend.set_alias(ModelRef("no-such-model", "1"), "champion")
    assert error.value.permanent


def server_process(backend, name):
    pid, _ = (backend.jobs_dir / "_endpoints" / name / "pid").read_text().split()
    return psutil.Process(int(pid))


def test_endpoint_canary_rollback_and_delete(backend, versions):
    v1, v2 = versions
    spec = EndpointSpec(
        name="iris-ep",
        variants=[
            EndpointVariant("blue", ModelRef(MODEL, v1), "local", weight=100),
            EndpointVariant("green", ModelRef(MODEL, v2), "local", weight=0),
        ],
    )
    assert backend.deploy_endpoint(spec) == "iris-ep"
    assert backend.get_endpoint("iris-ep").state in {"creating", "in_service"}
    status = wait_until(lambda: (s := backend.get_endpoint("iris-ep")).state == "in_service" and s, 60, 0.5)
    assert status.weights == {"blue": 100, "green": 0}
    process = server_process(backend, "iris-ep")
    assert backend.deploy_endpoint(spec) == "iris-ep"  # idempotent: no second server
    assert server_process(backend, "iris-ep").pid == process.pid

    # real predictions: the first iris rows are setosa, the last virginica
    answer = backend.invoke("iris-ep", {"dataframe_records": iris_records([0, 1, 149])})
    assert answer == {"predictions": [0, 0, 2], "variant": "blue"}
    split = load_iris(as_frame=True).data.iloc[[0]].to_dict(orient="split")
    answer = backend.invoke("iris-ep", {"dataframe_split": {k: split[k] for k in ("columns", "data")}})
    assert answer["predictions"] == [0]
    assert backend.invoke("iris-ep", {"dataframe_records": iris_records([0])}, variant="green")["variant"] == "green"

    # canary: 10% to green
    backend.update_traffic("iris-ep", {"blue": 90, "green": 10})
    status = backend.get_endpoint("iris-ep")
    assert (status.state, status.weights) == ("in_service", {"blue": 90, "green": 10})
    served = Counter(
        backend.invoke("iris-ep", {"dataframe_records": iris_records([50])})["variant"] for _ in range(200)
    )
    assert served["blue"] + served["green"] == 200
    assert 4 <= served["green"] <= 45, served  # ~20 expected

    # bad weights: a clear permanent error, nothing changes
    for weights, words in [
        ({"blue": 90, "green": 20}, "add up to 100"),
        ({"blue": 90, "purple": 10}, "no variant purple"),
        ({"blue": 110, "green": -10}, "non-negative"),
        ({"blue": 99.5, "green": 0.5}, "non-negative integer"),
    ]:
        with pytest.raises(BackendError) as error:
            backend.update_traffic("iris-ep", weights)
        assert error.value.permanent and words in error.value.message, error.value.message
    assert backend.get_endpoint("iris-ep").weights == {"blue": 90, "green": 10}

    # rollback: back to all blue, at once
    backend.rollback_endpoint("iris-ep")
    assert backend.get_endpoint("iris-ep").weights == {"blue": 100, "green": 0}
    served = Counter(backend.invoke("iris-ep", {"dataframe_records": iris_records([0])})["variant"] for _ in range(30))
    assert served == {"blue": 30}
    with pytest.raises(BackendError) as error:
        backend.rollback_endpoint("iris-ep")  # nothing earlier than the first deploy
    assert error.value.permanent

    with pytest.raises(BackendError) as error:  # bad input: the model server says why
        backend.invoke("iris-ep", {"rows": [1, 2]})
    assert error.value.permanent and "rejected" in error.value.message

    process.kill()  # the server dies: the endpoint says so, and invoking it is a permanent error
    status = wait_until(lambda: (s := backend.get_endpoint("iris-ep")).state == "failed" and s, 10)
    assert "exited unexpectedly" in status.message
    with pytest.raises(BackendError) as error:
        backend.invoke("iris-ep", {"dataframe_records": iris_records([0])})
    assert error.value.permanent and "not running" in error.value.message

    backend.delete_endpoint("iris-ep")
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    assert not (backend.jobs_dir / "_endpoints" / "iris-ep").exists()
    with pytest.raises(BackendError) as error:
        backend.get_endpoint("iris-ep")
    assert error.value.permanent
    backend.delete_endpoint("iris-ep")  # deleting again is not an error


def test_deploy_rejects_bad_specs_at_once(backend, versions):
    def variants(*weights, version=versions[0]):
        return [EndpointVariant(f"v{i}", ModelRef(MODEL, version), "local", weight=w) for i, w in enumerate(weights)]

    for spec, words in [
        (EndpointSpec("bad-weights", variants(60, 60)), "add up to 100"),
        (EndpointSpec("bad-version", variants(100, version="99")), "99"),
        (EndpointSpec("../escape", variants(100)), "Invalid endpoint name"),
        (EndpointSpec("no-variants", []), "at least one variant"),
    ]:
        with pytest.raises(BackendError) as error:
            backend.deploy_endpoint(spec)
        assert error.value.permanent and words in error.value.message, error.value.message
    assert not any((backend.jobs_dir / "_endpoints" / name / "pid").exists() for name in ("bad-weights", "bad-version"))


def test_a_workspace_is_an_experiment_and_a_folder(backend, mlflow_server):
    client = MlflowClient(mlflow_server)
    spec = ResourceSpec(key="ws-1", kind="workspace", parameters={"name": "vision"}, tags={"team": "alpha"})
    assert backend.provision(spec) == "ws-1"
    assert backend.provision(spec) == "ws-1"  # idempotent
    status = backend.poll_provision("ws-1")
    assert status.state is JobState.SUCCEEDED
    experiment = client.get_experiment(status.outputs["experiment_id"])
    assert experiment.name == "workspace-vision" and experiment.tags["team"] == "alpha"
    assert experiment.lifecycle_stage == "active"
    assert status.outputs["path"] == str(backend.data_root / "workspaces" / "vision")
    assert (backend.data_root / "workspaces" / "vision").is_dir()

    backend.teardown("ws-1")
    assert client.get_experiment(status.outputs["experiment_id"]).lifecycle_stage == "deleted"
    assert not (backend.data_root / "workspaces" / "vision").exists()
    backend.teardown("ws-1")  # again: nothing to do
    with pytest.raises(BackendError) as error:
        backend.poll_provision("ws-1")
    assert "torn down" in error.value.message
    with pytest.raises(BackendError) as error:
        backend.teardown("ws-unknown")
    assert error.value.permanent

    assert backend.provision(spec) == "ws-1"  # provisioned again: the experiment comes back
    assert client.get_experiment(status.outputs["experiment_id"]).lifecycle_stage == "active"
    backend.teardown("ws-1")

    with pytest.raises(BackendError) as error:
        backend.provision(ResourceSpec(key="ws-2", kind="cluster"))
    assert error.value.permanent and "workspace" in error.value.message


def test_costs_price_the_training_cpu_hours(backend, trained):
    finished = max(
        (backend.jobs_dir / key / "status.json").stat().st_mtime for key in ("ctr-a", "ctr-b")
    )  # the jobs' day, in UTC
    day = datetime.fromtimestamp(finished, UTC).date()
    week = {"start": day - timedelta(days=7), "end": day}

    records = backend.get_costs(**week)
    assert records and all(r.amount == 0 and r.currency == "USD" for r in records)  # local compute is free

    backend.cpu_hour_rate = 3.6  # a tenth of a cent a CPU-second
    try:
        records = backend.get_costs(**week, tags={"team": "alpha"})
    finally:
        backend.cpu_hour_rate = LocalBackend.cpu_hour_rate
    assert [(r.day, r.tags, r.service) for r in records][-1] == (day, {"team": "alpha"}, "local-training")
    # A tenth of a cent for every second each job's process ran, as its status file records it.
    ran = sum(
        status["finished"] - status["started"]
        for status in (processes.read_json(backend.jobs_dir / key / "status.json") for key in ("ctr-a", "ctr-b"))
    )
    assert sum(r.amount for r in records) == pytest.approx(ran * 0.001, abs=1e-5)
    assert backend.get_costs(**week, tags={"team": "beta"}) == []
    assert backend.get_costs(start=day + timedelta(days=1), end=day + timedelta(days=2)) == []
